// A phoenix.js client in a process of its own, for tests that kill it:
// connects to the socket URL (argv[2]), joins `presence:lobby` as argv[3],
// and stays until killed.
import { Socket } from "phoenix";
import WebSocket from "ws";

const [url, user] = process.argv.slice(2);
const socket = new Socket(url, { transport: WebSocket });
socket.connect();
socket.channel("presence:lobby", { user }).join();
setInterval(() => {}, 60_000);
