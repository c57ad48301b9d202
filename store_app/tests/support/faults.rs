//! What the fault tests do to the machine under a cluster: a network
//! namespace joined to the root one by a veth pair, whose link can be cut
//! and healed ([`Netns`]); a small file system as a node's data directory,
//! that can be filled or made read-only ([`Mount`]); nodes started with any
//! name, inside a namespace or not ([`Env::start_named`]).
//!
//! Namespaces and mounts need root. A test that cannot make them prints a
//! loud SKIPPED and passes ([`or_skip`]), unless `FAULT_TESTS=required` (CI
//! runs as root and sets it): then it fails. Everything made is undone on
//! drop, also when an assertion fails.

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::{Env, NodeProc, BIN, POLL, SECRET_KEY_BASE, SOON};

/// `FAULT_TESTS=required`: the privileged fault tests must run (CI).
pub const REQUIRED_ENV: &str = "FAULT_TESTS";

/// `Some` of what `setup` made; when it failed, `None` after a loud SKIPPED
/// message — or a panic when `FAULT_TESTS=required`.
pub fn or_skip<T>(test: &str, setup: Result<T, String>) -> Option<T> {
    match setup {
        Ok(made) => Some(made),
        Err(why) if std::env::var(REQUIRED_ENV).is_ok_and(|v| v == "required") => {
            panic!("{test}: {why} ({REQUIRED_ENV}=required: this test must run; it needs root)")
        }
        Err(why) => {
            eprintln!(
                "\n!!!!!!!!!!\n!!! SKIPPED {test}: {why}\n!!! (it needs root; {REQUIRED_ENV}=required makes this a failure)\n!!!!!!!!!!\n"
            );
            None
        }
    }
}

/// Runs `program args`, its output when it succeeds, else what went wrong.
pub fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("`{program} {}` did not run: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Polls `holds` until it is true, for at most [`SOON`]; panics naming `what`.
pub fn wait_until(what: &str, mut holds: impl FnMut() -> bool) {
    let deadline = Instant::now() + SOON;
    while !holds() {
        assert!(Instant::now() < deadline, "{what}: not within {SOON:?}");
        std::thread::sleep(POLL);
    }
}

/// A network namespace `ft<pid>` linked to the root namespace by a veth
/// pair: `ftr<pid>` in the root namespace with [`Netns::root_ip`], `ftn<pid>`
/// inside with [`Netns::inner_ip`], on a /30 of 10.213.0.0/16 chosen from
/// the test's pid (so parallel test processes do not clash) and not in use.
pub struct Netns {
    name: String,
    root_if: String,
    inner_if: String,
    /// The root namespace's end of the link.
    pub root_ip: Ipv4Addr,
    /// The namespace's end of the link.
    pub inner_ip: Ipv4Addr,
}

impl Netns {
    /// Makes the namespace and its link, up. Fails without root.
    pub fn create() -> Result<Netns, String> {
        let pid = std::process::id();
        let (name, root_if, inner_if) =
            (format!("ft{pid}"), format!("ftr{pid}"), format!("ftn{pid}"));
        // Left over by a killed run of a process with this pid: not in use.
        let _ = run("ip", &["link", "del", &root_if]);
        let _ = run("ip", &["netns", "del", &name]);
        let in_use = run("ip", &["-o", "-4", "addr", "show"])?;
        let (root_ip, inner_ip) = (0..64u32)
            .map(|step| {
                let n = (pid + step * 97) % 16384;
                let base = u32::from(Ipv4Addr::new(10, 213, 0, 0)) + n * 4;
                (Ipv4Addr::from(base + 2), Ipv4Addr::from(base + 1))
            })
            .find(|(root, inner)| {
                !in_use.contains(&format!("inet {root}/"))
                    && !in_use.contains(&format!("inet {inner}/"))
            })
            .ok_or("no free /30 in 10.213.0.0/16")?;
        run("ip", &["netns", "add", &name])?;
        // From here on, drop undoes what was made.
        let netns = Netns {
            name,
            root_if,
            inner_if,
            root_ip,
            inner_ip,
        };
        let (ns, rif, nif) = (&netns.name, &netns.root_if, &netns.inner_if);
        run(
            "ip",
            &["link", "add", rif, "type", "veth", "peer", "name", nif],
        )?;
        run("ip", &["link", "set", nif, "netns", ns])?;
        run("ip", &["addr", "add", &format!("{root_ip}/30"), "dev", rif])?;
        run("ip", &["link", "set", rif, "up"])?;
        netns.inside(&["ip", "addr", "add", &format!("{inner_ip}/30"), "dev", nif])?;
        netns.inside(&["ip", "link", "set", nif, "up"])?;
        netns.inside(&["ip", "link", "set", "lo", "up"])?;
        Ok(netns)
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `command` inside the namespace.
    fn inside(&self, command: &[&str]) -> Result<String, String> {
        let mut args = vec!["netns", "exec", &self.name];
        args.extend_from_slice(command);
        run("ip", &args)
    }

    /// Cuts the link: the namespace's end goes down, so packets either way
    /// are dropped (the root end keeps its route, marked `linkdown`, so
    /// nothing leaves by the default route either). Established TCP
    /// connections stay open: only the cluster's heartbeat can tell.
    pub fn cut(&self) {
        self.inside(&["ip", "link", "set", &self.inner_if, "down"])
            .unwrap_or_else(|e| panic!("cannot cut the link: {e}"));
    }

    /// Heals the link.
    pub fn heal(&self) {
        self.inside(&["ip", "link", "set", &self.inner_if, "up"])
            .unwrap_or_else(|e| panic!("cannot heal the link: {e}"));
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting one end deletes the pair.
        let _ = run("ip", &["link", "del", &self.root_if]);
        if let Err(e) = run("ip", &["netns", "del", &self.name]) {
            eprintln!("warning: {e}");
        }
    }
}

/// A small file system mounted on a node's data directory: a tmpfs, or an
/// ext4 image on a loop device (`errors=remount-ro`, so that an error turns
/// it read-only, as a failing disk does). Unmounted on drop.
///
/// The ext4 has no journal. With one, ext4's error handling aborts the
/// journal first and flags the file system read-only only after writing its
/// superblock: an `fdatasync` in between returns success for a file size
/// that the abort then discards, and the appended bytes are gone after the
/// remount — measured without the store or sled (concurrent appends,
/// `sync_file_range`, `fdatasync`: acknowledged records lost in 5 runs of
/// 30; none in 30 without a journal). That is the kernel's to fix, and no
/// writer can tell; the test checks what the store does with a disk that
/// keeps its word.
pub struct Mount {
    dir: PathBuf,
    /// The ext4 image, for a remount after an error.
    image: Option<PathBuf>,
}

/// The file [`Mount::fill`] writes.
const FILLER: &str = "filler";

impl Mount {
    /// A tmpfs of `size` (`8m`) on `dir`, made if missing. Fails without root.
    pub fn tmpfs(dir: &Path, size: &str) -> Result<Mount, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let dir_s = dir.to_str().unwrap();
        run(
            "mount",
            &["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs", dir_s],
        )?;
        Ok(Mount {
            dir: dir.to_path_buf(),
            image: None,
        })
    }

    /// An ext4 file system (no journal: see [`Mount`]) of `mib` MiB in the
    /// file `image`, on a loop device, mounted on `dir` with
    /// `errors=remount-ro`. Fails without root.
    pub fn ext4(dir: &Path, image: &Path, mib: u64) -> Result<Mount, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        std::fs::File::create(image)
            .and_then(|f| f.set_len(mib << 20))
            .map_err(|e| format!("{}: {e}", image.display()))?;
        run(
            "mkfs.ext4",
            &["-q", "-F", "-O", "^has_journal", image.to_str().unwrap()],
        )?;
        let mount = Mount {
            dir: dir.to_path_buf(),
            image: Some(image.to_path_buf()),
        };
        mount.mount_image()?;
        Ok(mount)
    }

    fn mount_image(&self) -> Result<(), String> {
        let image = self.image.as_ref().expect("an ext4 image");
        run(
            "mount",
            &[
                "-o",
                "loop,errors=remount-ro",
                image.to_str().unwrap(),
                self.dir.to_str().unwrap(),
            ],
        )
        .map(drop)
    }

    /// Fills the file system: writes a file until no byte fits; its size.
    pub fn fill(&self) -> u64 {
        let path = self.dir.join(FILLER);
        let mut file =
            std::fs::File::create(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let chunk = vec![0xa5u8; 64 * 1024];
        let mut written = 0u64;
        let mut size = chunk.len();
        // Smaller and smaller writes, down to one byte, so that nothing is left.
        while size > 0 {
            match file.write(&chunk[..size]) {
                Ok(0) => size /= 2,
                Ok(n) => written += n as u64,
                Err(e) if e.kind() == std::io::ErrorKind::StorageFull => size /= 2,
                Err(e) => panic!("filling {}: {e}", path.display()),
            }
        }
        written
    }

    /// Frees what [`Mount::fill`] took.
    pub fn free(&self) {
        let path = self.dir.join(FILLER);
        std::fs::remove_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }

    /// The mount's options, as `findmnt` shows them (`rw,relatime,…`).
    pub fn options(&self) -> String {
        run(
            "findmnt",
            &[
                "-n",
                "-o",
                "OPTIONS",
                "--mountpoint",
                self.dir.to_str().unwrap(),
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .trim()
        .to_string()
    }

    /// Makes ext4 report an error (`/sys/fs/ext4/<dev>/trigger_fs_error`), as
    /// a failing disk would: the file system turns read-only under the
    /// processes that have files open on it (`mount -o remount,ro` refuses
    /// to while a file is open for writing, and so does a read-only bind
    /// mount).
    pub fn fail_read_only(&self) {
        let source = run(
            "findmnt",
            &[
                "-n",
                "-o",
                "SOURCE",
                "--mountpoint",
                self.dir.to_str().unwrap(),
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let device = Path::new(source.trim())
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_else(|| panic!("no device in {source:?}"))
            .to_string();
        std::fs::write(
            format!("/sys/fs/ext4/{device}/trigger_fs_error"),
            "fault test",
        )
        .unwrap_or_else(|e| panic!("cannot trigger an ext4 error on {device}: {e}"));
        // Shown as `ro`, or as `rw,…,emergency_ro` by recent kernels.
        let options = self.options();
        let probe = std::fs::File::create(self.dir.join("probe"));
        assert!(
            options.split(',').any(|o| o == "ro" || o == "emergency_ro")
                && probe.is_err_and(|e| e.kind() == std::io::ErrorKind::ReadOnlyFilesystem),
            "the file system is read-only after the error: {options}"
        );
    }

    /// After an ext4 error: unmounts, repairs (`e2fsck -fy`) and mounts again,
    /// read-write. The node using it must have stopped.
    pub fn repair(&self) {
        let image = self
            .image
            .as_ref()
            .expect("an ext4 image")
            .to_str()
            .unwrap();
        run("umount", &[self.dir.to_str().unwrap()]).unwrap_or_else(|e| panic!("{e}"));
        // 1: errors were corrected, as expected after an error.
        let fsck = Command::new("e2fsck")
            .args(["-fy", image])
            .output()
            .expect("e2fsck runs");
        assert!(
            matches!(fsck.status.code(), Some(0 | 1)),
            "e2fsck could not repair the image: {fsck:?}"
        );
        self.mount_image().unwrap_or_else(|e| panic!("{e}"));
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let dir = self.dir.to_str().unwrap();
        // The nodes using it are killed before (declared after the mount);
        // their files may take a moment to close.
        let deadline = Instant::now() + Duration::from_secs(5);
        while run("umount", &[dir]).is_err() {
            if Instant::now() > deadline {
                if let Err(e) = run("umount", &["-l", dir]) {
                    eprintln!("warning: {e}");
                }
                return;
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Env {
    /// Starts the node `name` (`short@host`) with `extra`, serving HTTP on
    /// 127.0.0.1 (a free port, unless `extra` says `--no-http`), inside
    /// `netns` if given, and waits until it serves.
    pub fn start_named(&self, name: &str, extra: &[&str], netns: Option<&Netns>) -> NodeProc {
        let mut node = self.command();
        node.args(["start", "--name", name, "--host", "127.0.0.1"]);
        if !extra.contains(&"--no-http") {
            node.args(["--http-port", "0"]);
        }
        node.args(extra);
        node.env("SECRET_KEY_BASE", SECRET_KEY_BASE);
        let command = match netns {
            None => node,
            Some(netns) => {
                let mut inside = Command::new("ip");
                inside
                    .args(["netns", "exec", netns.name(), BIN])
                    .args(node.get_args());
                for (key, value) in node.get_envs() {
                    match value {
                        Some(value) => inside.env(key, value),
                        None => inside.env_remove(key),
                    };
                }
                inside
            }
        };
        NodeProc::spawn(name.to_string(), command)
    }
}
