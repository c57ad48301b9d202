//! `store_bench replication`: how long a sale made on `back` takes to show up
//! as a `stock_change` frame at a page connected to `app`.
//!
//! The path measured (see `store_app/benches/PERFORMANCE.md`): this process
//! writes `inventory.sell ITEM` on back's control socket → back's console runs
//! `item_sold!` in back's inventory context → a remote call to the store
//! server on app (ractor_cluster) → the compare-and-swap sale in sled and its
//! flush to disk on app → the reply to back → back's inventory server applies
//! the figure → replication `broadcast_from` to the other nodes → the
//! `stock_change` broadcast on `product:<id>` from back, carried to app by the
//! cluster PubSub → app's product channel → the WebSocket frame this process
//! reads. The clock starts just before the request is written and stops when
//! the reader task takes the frame off the socket.
//!
//! Items come from the catalogue the store was seeded with (`--catalogue`,
//! default `flash`): released items with one unit, so that each sale
//! takes the item to `out`, which is always broadcast. Before the first sale
//! the client joins the topic of every released product (all 100 of flash),
//! and matches each frame to its sale by `item_id`. Sales are sequential: the
//! next is issued once the previous frame arrived.
//!
//! The second figure, `rpc_reply`, is when `inventory.sell` answered: the
//! store write, back's memory, and both broadcasts sent — everything but the
//! delivery to app's page. The third, `control_noop`, is 200 `node.self`
//! commands on the same connection before the sales: what the control socket
//! itself costs, to subtract.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use clap::Args;
use futures::{SinkExt, StreamExt};
use runtime::node::NodeName;
use runtime::release::{self, TargetArgs, COOKIE_DIR_ENV, NAME_DIR_ENV};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use loadgen::stats::{ms, Percentiles};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

#[derive(Args)]
pub struct ReplicationArgs {
    /// The WebSocket of the page's socket on app.
    #[arg(long, default_value = "ws://127.0.0.1:4000/product_socket/websocket")]
    app_ws: String,
    /// The node the sales are made on (through its control socket).
    #[arg(long, default_value = "back@127.0.0.1", value_name = "NAME@HOST")]
    back: NodeName,
    /// Sales to make, one at a time.
    #[arg(long, default_value_t = 1000)]
    sales: usize,
    /// The catalogue the store was seeded with (which items to sell).
    #[arg(long, default_value = "flash", value_parser = clap::builder::PossibleValuesParser::new(store_app::catalogue::NAMES))]
    catalogue: String,
    /// Milliseconds to wait for each sale's frame.
    #[arg(long, default_value_t = 5000)]
    frame_timeout_ms: u64,
    /// Milliseconds to pause between sales (0: the next right after the frame).
    #[arg(long, default_value_t = 0)]
    pause_ms: u64,
    /// back's cookie (else RELEASE_COOKIE / NODE_COOKIE, else the cookie file).
    #[arg(long)]
    cookie: Option<String>,
    /// Where the cookie file is (default: $HOME).
    #[arg(long, env = COOKIE_DIR_ENV, value_name = "DIR")]
    cookie_dir: Option<PathBuf>,
    /// The name directory back registered in.
    #[arg(long, env = NAME_DIR_ENV, value_name = "DIR")]
    name_dir: Option<PathBuf>,
}

/// The summary line.
#[derive(Serialize)]
pub struct ReplicationSummary {
    workload: &'static str,
    back: String,
    app_ws: String,
    sales: usize,
    topics_joined: usize,
    /// From writing `inventory.sell` on back to the frame at the client on app.
    sale_to_frame: Percentiles,
    /// The first sale's `sale_to_frame`, ms (it also opens the paths the
    /// later sales reuse, so it is usually the maximum).
    first_sale_ms: f64,
    /// From writing `inventory.sell` to its answer.
    rpc_reply: Percentiles,
    /// A no-op command (`node.self`) on the same control connection, before
    /// the sales: the control socket's own round trip.
    control_noop: Percentiles,
    /// Frames that arrived before the sale's rpc answered.
    frames_before_reply: usize,
    /// `stock_change` frames for an item not being sold at the time.
    unexpected_frames: usize,
    /// Wall time of the sales, seconds.
    seconds: f64,
}

/// No-op commands timed before the sales (`control_noop`).
const NOOPS: usize = 200;

/// A `stock_change` frame: the item and when it was read.
struct Frame {
    item_id: u64,
    at: Instant,
}

/// Joins, then makes the sales from this (blocking) thread while a task on
/// `runtime` reads the frames.
pub fn run(
    runtime: &tokio::runtime::Runtime,
    args: ReplicationArgs,
) -> Result<ReplicationSummary, String> {
    let Plan { items, products } = plan(&args)?;
    let mut control = release::connect(&TargetArgs {
        node: args.back.clone(),
        cookie: args.cookie.clone(),
        cookie_dir: args.cookie_dir.clone(),
        name_dir: args.name_dir.clone(),
        timeout: (args.frame_timeout_ms / 1000).max(5),
    })
    .map_err(|e| format!("cannot reach {}: {e}", args.back))?;
    let mut noop = Vec::with_capacity(NOOPS);
    for _ in 0..NOOPS {
        let sent = Instant::now();
        control
            .run("node.self")
            .map_err(|e| format!("node.self on {}: {e}", args.back))?;
        noop.push(sent.elapsed().as_nanos() as u64);
    }
    let ws = runtime.block_on(join_all(&args.app_ws, &products))?;
    eprintln!(
        "store_bench replication: joined {} topics on {}; {} sales on {}",
        products.len(),
        args.app_ws,
        items.len(),
        args.back
    );
    let (tx, frames) = std_mpsc::channel();
    let reader = runtime.spawn(read_frames(ws, tx));

    let timeout = Duration::from_millis(args.frame_timeout_ms);
    let mut to_frame = Vec::with_capacity(items.len());
    let mut to_reply = Vec::with_capacity(items.len());
    let (mut before_reply, mut unexpected) = (0, 0);
    let began = Instant::now();
    for &(item, _) in &items {
        let sent = Instant::now();
        let response = control
            .run(&format!("inventory.sell {item}"))
            .map_err(|e| format!("inventory.sell {item} on {}: {e}", args.back))?;
        let replied = Instant::now();
        if !response.ok {
            return Err(format!(
                "inventory.sell {item} on {} failed: {} (the bench needs a freshly seeded {} store: scripts/bench_store.sh starts one)",
                args.back,
                response.error.unwrap_or_default(),
                args.catalogue
            ));
        }
        let frame = loop {
            let wait = timeout.saturating_sub(sent.elapsed());
            match frames.recv_timeout(wait) {
                Ok(Ok(frame)) if frame.item_id == item => break frame,
                Ok(Ok(_)) => unexpected += 1,
                Ok(Err(err)) => return Err(err),
                Err(std_mpsc::RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "no stock_change for item {item} at {} within {} ms of the sale",
                        args.app_ws, args.frame_timeout_ms
                    ))
                }
                Err(std_mpsc::RecvTimeoutError::Disconnected) => {
                    return Err("the WebSocket reader stopped".into())
                }
            }
        };
        if frame.at < replied {
            before_reply += 1;
        }
        to_frame.push(frame.at.saturating_duration_since(sent).as_nanos() as u64);
        to_reply.push(replied.duration_since(sent).as_nanos() as u64);
        if args.pause_ms > 0 {
            std::thread::sleep(Duration::from_millis(args.pause_ms));
        }
    }
    let seconds = (began.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
    reader.abort();
    let first_sale_ms = to_frame.first().map_or(0.0, |&ns| ms(ns));
    Ok(ReplicationSummary {
        workload: "replication",
        back: args.back.to_string(),
        app_ws: args.app_ws.clone(),
        sales: items.len(),
        topics_joined: products.len(),
        sale_to_frame: Percentiles::of_ns(&mut to_frame).unwrap_or_default(),
        first_sale_ms,
        rpc_reply: Percentiles::of_ns(&mut to_reply).unwrap_or_default(),
        control_noop: Percentiles::of_ns(&mut noop).unwrap_or_default(),
        frames_before_reply: before_reply,
        unexpected_frames: unexpected,
        seconds,
    })
}

/// What to sell, and which topics to join.
struct Plan {
    /// `(item, product)`: released items with one unit, `--sales` of them.
    items: Vec<(u64, u64)>,
    /// Every released product (the client joins all their topics, as a page
    /// showing the whole catalogue does).
    products: BTreeSet<u64>,
}

fn plan(args: &ReplicationArgs) -> Result<Plan, String> {
    let store_app::model::Snapshot {
        products,
        items,
        availability,
    } = store_app::catalogue::by_name(&args.catalogue)
        .ok_or_else(|| format!("unknown catalogue {:?}", args.catalogue))?;
    let released: BTreeSet<u64> = products
        .iter()
        .filter(|p| p.released)
        .map(|p| p.id)
        .collect();
    let last_unit: BTreeSet<u64> = availability
        .iter()
        .filter(|a| a.available_count == 1)
        .map(|a| a.item_id)
        .collect();
    let picked: Vec<(u64, u64)> = items
        .iter()
        .filter(|i| released.contains(&i.product_id) && last_unit.contains(&i.id))
        .map(|i| (i.id, i.product_id))
        .take(args.sales)
        .collect();
    if args.sales == 0 || picked.len() < args.sales {
        return Err(format!(
            "--sales {}: the {} catalogue has {} released items with one unit left (the flash catalogue has 1,000)",
            args.sales,
            args.catalogue,
            picked.len()
        ));
    }
    Ok(Plan {
        items: picked,
        products: released,
    })
}

/// Connects to `url` and joins `product:<id>` for every product.
async fn join_all(url: &str, products: &BTreeSet<u64>) -> Result<Ws, String> {
    let url = if url.contains("vsn=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&vsn=2.0.0")
    } else {
        format!("{url}?vsn=2.0.0")
    };
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async(url.as_str()),
    )
    .await
    .map_err(|_| format!("cannot connect to {url}: timed out"))?
    .map_err(|e| format!("cannot connect to {url}: {e}"))?;
    if let MaybeTlsStream::Plain(stream) = ws.get_ref() {
        let _ = stream.set_nodelay(true);
    }
    for id in products {
        let join = json!([
            id.to_string(),
            id.to_string(),
            format!("product:{id}"),
            "phx_join",
            {}
        ]);
        ws.send(Message::text(join.to_string()))
            .await
            .map_err(|e| format!("join product:{id}: {e}"))?;
    }
    let mut waiting: BTreeSet<String> = products.iter().map(u64::to_string).collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !waiting.is_empty() {
        let message = tokio::time::timeout_at(deadline, ws.next())
            .await
            .map_err(|_| format!("{} joins unanswered after 10 s", waiting.len()))?
            .ok_or("the server closed the WebSocket during the joins")?
            .map_err(|e| format!("WebSocket: {e}"))?;
        let Message::Text(text) = message else {
            continue;
        };
        let frame: Value = serde_json::from_str(&text).map_err(|e| format!("bad frame: {e}"))?;
        if frame[3] == "phx_reply" {
            let reference = frame[1].as_str().unwrap_or_default().to_string();
            if frame[4]["status"] != "ok" {
                return Err(format!("join {} refused: {}", frame[2], frame[4]));
            }
            waiting.remove(&reference);
        }
    }
    Ok(ws)
}

/// Stamps and forwards every `stock_change` frame; heartbeats every 20 s so a
/// slow run is not timed out by the server.
async fn read_frames(mut ws: Ws, tx: std_mpsc::Sender<Result<Frame, String>>) {
    let mut heartbeat = tokio::time::interval(Duration::from_secs(20));
    heartbeat.tick().await;
    let mut beat = 0u64;
    loop {
        tokio::select! {
            message = ws.next() => {
                let at = Instant::now();
                let text = match message {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(_)) => continue,
                    Some(Err(err)) => {
                        let _ = tx.send(Err(format!("WebSocket: {err}")));
                        return;
                    }
                    None => {
                        let _ = tx.send(Err("the server closed the WebSocket".into()));
                        return;
                    }
                };
                let Ok(frame) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                if frame[3] == store_app::web::STOCK_CHANGE {
                    if let Some(item_id) = frame[4]["item_id"].as_u64() {
                        if tx.send(Ok(Frame { item_id, at })).is_err() {
                            return;
                        }
                    }
                }
            }
            _ = heartbeat.tick() => {
                beat += 1;
                let frame = json!([null, format!("hb{beat}"), "phoenix", "heartbeat", {}]);
                if ws.send(Message::text(frame.to_string())).await.is_err() {
                    let _ = tx.send(Err("the WebSocket broke (heartbeat)".into()));
                    return;
                }
            }
        }
    }
}
