//! The command registry: what a console can do, shared by the local REPL and
//! the control socket.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;

use parking_lot::RwLock;
use tokio::sync::watch;

use super::parse::{self, ParseError};

/// What a command handler returns: its output, or why it failed.
pub type CommandResult = Result<String, CommandError>;

type BoxFuture = Pin<Box<dyn Future<Output = CommandResult> + Send>>;
type Handler = Arc<dyn Fn(Args) -> BoxFuture + Send + Sync>;

/// Where completions for one kind of argument come from (node names, topics…).
pub type CompletionSource = Arc<dyn Fn() -> Vec<String> + Send + Sync>;

/// Why a command did not run, or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// No such command.
    #[error("{}", unknown_message(.name, .suggestion.as_deref()))]
    Unknown {
        /// What was typed.
        name: String,
        /// The closest command, if one is close.
        suggestion: Option<String>,
    },
    /// The arguments do not fit the command.
    #[error("{command}: {problem}\nusage: {}", format!("{command} {usage}").trim_end())]
    BadArguments {
        /// The command.
        command: String,
        /// Its usage line.
        usage: String,
        /// What is wrong.
        problem: String,
    },
    /// The line could not be split into words.
    #[error("cannot read the command: {0}")]
    Parse(#[from] ParseError),
    /// The command ran and failed.
    #[error("{0}")]
    Failed(String),
}

fn unknown_message(name: &str, suggestion: Option<&str>) -> String {
    match suggestion {
        Some(s) => {
            format!("unknown command {name:?}; did you mean {s:?}? (help lists the commands)")
        }
        None => format!("unknown command {name:?} (help lists the commands)"),
    }
}

impl CommandError {
    /// A failure with this message.
    pub fn failed(message: impl fmt::Display) -> Self {
        CommandError::Failed(message.to_string())
    }

    /// A short machine-readable kind: `unknown_command`, `bad_arguments`, `failed`.
    pub fn kind(&self) -> &'static str {
        match self {
            CommandError::Unknown { .. } => "unknown_command",
            CommandError::BadArguments { .. } | CommandError::Parse(_) => "bad_arguments",
            CommandError::Failed(_) => "failed",
        }
    }
}

/// One parameter of a command's usage line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Param {
    name: String,
    optional: bool,
    rest: bool,
}

/// A command's parameters, parsed from a usage line such as
/// `TOPIC EVENT [JSON]` or `[COMMAND]` or `WORDS...`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Usage {
    text: String,
    params: Vec<Param>,
}

impl Usage {
    fn parse(text: &str) -> Usage {
        let params = text
            .split_whitespace()
            .map(|word| {
                let optional = word.starts_with('[') && word.ends_with(']');
                let inner = if optional {
                    &word[1..word.len() - 1]
                } else {
                    word
                };
                let rest = inner.ends_with("...");
                Param {
                    name: inner.trim_end_matches("...").to_string(),
                    optional,
                    rest,
                }
            })
            .collect();
        Usage {
            text: text.to_string(),
            params,
        }
    }

    fn required(&self) -> usize {
        self.params.iter().filter(|p| !p.optional).count()
    }

    fn max(&self) -> Option<usize> {
        (!self.params.iter().any(|p| p.rest)).then_some(self.params.len())
    }

    /// The parameter that the argument at `index` fills.
    fn param(&self, index: usize) -> Option<&Param> {
        self.params
            .get(index)
            .or_else(|| self.params.last().filter(|p| p.rest))
    }
}

/// The arguments a handler gets: the words after the command name, already
/// checked against the usage line's count.
#[derive(Debug, Clone)]
pub struct Args {
    command: String,
    usage: String,
    values: Vec<String>,
}

impl Args {
    /// Arguments for `command` (mainly for tests of handlers).
    pub fn new(command: &str, usage: &str, values: Vec<String>) -> Self {
        Args {
            command: command.to_string(),
            usage: usage.to_string(),
            values,
        }
    }

    /// The command's name.
    pub fn command(&self) -> &str {
        &self.command
    }

    /// How many arguments were given.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether no argument was given.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Every argument.
    pub fn all(&self) -> &[String] {
        &self.values
    }

    /// Argument `index`, if given.
    pub fn get(&self, index: usize) -> Option<&str> {
        self.values.get(index).map(String::as_str)
    }

    /// Argument `index`; a [`CommandError::BadArguments`] naming it if missing.
    pub fn required(&self, index: usize, what: &str) -> Result<&str, CommandError> {
        self.get(index)
            .ok_or_else(|| self.bad(format!("{what} is missing")))
    }

    /// Argument `index` parsed as `T`, with the parse error in the message.
    pub fn parse<T>(&self, index: usize, what: &str) -> Result<T, CommandError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        let text = self.required(index, what)?;
        text.parse()
            .map_err(|e| self.bad(format!("{what} {text:?}: {e}")))
    }

    /// Argument `index` as JSON; `default` when it is absent.
    pub fn json(
        &self,
        index: usize,
        what: &str,
        default: Option<serde_json::Value>,
    ) -> Result<serde_json::Value, CommandError> {
        match (self.get(index), default) {
            (None, Some(default)) => Ok(default),
            (None, None) => Err(self.bad(format!("{what} is missing"))),
            (Some(text), _) => serde_json::from_str(text)
                .map_err(|e| self.bad(format!("{what} is not valid JSON ({e}): {text}"))),
        }
    }

    /// A [`CommandError::BadArguments`] for this command.
    pub fn bad(&self, problem: impl Into<String>) -> CommandError {
        CommandError::BadArguments {
            command: self.command.clone(),
            usage: self.usage.clone(),
            problem: problem.into(),
        }
    }
}

/// What running a line led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The command's output (possibly empty).
    Output(String),
    /// `quit`: the REPL should end.
    Quit,
}

enum Action {
    Run(Handler),
    Help,
    Quit,
}

struct Command {
    usage: Usage,
    summary: String,
    action: Action,
}

struct Inner {
    app: String,
    commands: RwLock<BTreeMap<String, Arc<Command>>>,
    completions: RwLock<HashMap<String, CompletionSource>>,
    shutdown: ShutdownRequests,
}

/// A console: a registry of named commands, each with a usage line, a
/// one-line summary and an async handler. Cheap to clone; clones share the
/// registry. `help` and `quit` are built in; see [`super::builtins`] for the
/// node commands.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use runtime::console::{Console, Outcome};
/// let console = Console::new("demo");
/// console.register("echo", "WORDS...", "prints its arguments", |args| async move {
///     Ok(args.all().join(" "))
/// });
/// assert_eq!(console.run("echo hello 'big world'").await, Ok(Outcome::Output("hello big world".into())));
/// assert!(console.run("ecko hi").await.unwrap_err().to_string().contains("did you mean \"echo\""));
/// # });
/// ```
#[derive(Clone)]
pub struct Console {
    inner: Arc<Inner>,
}

impl fmt::Debug for Console {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Console")
            .field("app", &self.inner.app)
            .field("commands", &self.commands())
            .finish()
    }
}

impl Console {
    /// A console for `app` with the `help` and `quit` commands.
    pub fn new(app: &str) -> Self {
        let shutdown = ShutdownRequests::default();
        let console = Console {
            inner: Arc::new(Inner {
                app: app.to_string(),
                commands: RwLock::new(BTreeMap::new()),
                completions: RwLock::new(HashMap::new()),
                shutdown,
            }),
        };
        console.insert(
            "help",
            "[COMMAND]",
            "lists the commands, or describes one",
            Action::Help,
        );
        console.insert(
            "quit",
            "",
            "leaves the console (of a foreground node: stops it)",
            Action::Quit,
        );
        // Weak: the registry must not keep itself alive.
        let me = Arc::downgrade(&console.inner);
        console.complete_param(
            "COMMAND",
            Arc::new(move || {
                me.upgrade()
                    .map(|inner| inner.commands.read().keys().cloned().collect())
                    .unwrap_or_default()
            }),
        );
        console
    }

    /// The application's name.
    pub fn app(&self) -> &str {
        &self.inner.app
    }

    fn insert(&self, name: &str, usage: &str, summary: &str, action: Action) {
        assert!(
            !name.is_empty() && !name.contains(char::is_whitespace),
            "a command name is one word: {name:?}"
        );
        self.inner.commands.write().insert(
            name.to_string(),
            Arc::new(Command {
                usage: Usage::parse(usage),
                summary: summary.to_string(),
                action,
            }),
        );
    }

    /// Registers (or replaces) the command `name`.
    ///
    /// `usage` names the parameters: `NODE`, `TOPIC EVENT [JSON]` (bracketed:
    /// optional), `WORDS...` (the rest). The console checks the number of
    /// arguments against it before calling `handler`, and completes a
    /// parameter from the source registered for its name
    /// ([`Console::complete_param`]).
    pub fn register<F, Fut>(&self, name: &str, usage: &str, summary: &str, handler: F) -> &Self
    where
        F: Fn(Args) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = CommandResult> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |args| Box::pin(handler(args)));
        self.insert(name, usage, summary, Action::Run(handler));
        self
    }

    /// [`Console::register`] for a handler that works on shared `state` (a
    /// node, a PubSub, an app's context): each run gets its own clone, so a
    /// handler reads `|node, args| async move { … node … }` instead of cloning
    /// twice by hand (once into the closure, once into each run's future).
    pub fn register_with<S, F, Fut>(
        &self,
        name: &str,
        usage: &str,
        summary: &str,
        state: &S,
        handler: F,
    ) -> &Self
    where
        S: Clone + Send + Sync + 'static,
        F: Fn(S, Args) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = CommandResult> + Send + 'static,
    {
        let state = state.clone();
        self.register(name, usage, summary, move |args| {
            handler(state.clone(), args)
        })
    }

    /// Completes every parameter named `param` (e.g. `NODE`, `TOPIC`) from `source`.
    pub fn complete_param(&self, param: &str, source: CompletionSource) -> &Self {
        self.inner
            .completions
            .write()
            .insert(param.to_string(), source);
        self
    }

    /// The command names, sorted.
    pub fn commands(&self) -> Vec<String> {
        self.inner.commands.read().keys().cloned().collect()
    }

    fn command(&self, name: &str) -> Option<Arc<Command>> {
        self.inner.commands.read().get(name).cloned()
    }

    /// Runs one line: splits it, finds the command, checks the arguments, runs
    /// the handler. An empty line or a `#` comment outputs nothing.
    pub async fn run(&self, line: &str) -> Result<Outcome, CommandError> {
        let words = parse::split(line)?;
        let Some((first, rest)) = words.split_first() else {
            return Ok(Outcome::Output(String::new()));
        };
        let name = first.text.as_str();
        let command = self.command(name).ok_or_else(|| CommandError::Unknown {
            name: name.to_string(),
            suggestion: self.suggest(name),
        })?;
        let args = Args::new(
            name,
            &command.usage.text,
            rest.iter().map(|w| w.text.clone()).collect(),
        );
        let required = command.usage.required();
        if args.len() < required {
            let missing: Vec<&str> = command.usage.params[args.len()..]
                .iter()
                .filter(|p| !p.optional)
                .map(|p| p.name.as_str())
                .collect();
            return Err(args.bad(format!("missing {}", missing.join(" "))));
        }
        if let Some(max) = command.usage.max() {
            if args.len() > max {
                let extra: Vec<String> =
                    args.all()[max..].iter().map(|a| format!("{a:?}")).collect();
                let (extra, verb) = (extra.join(" "), if extra.len() == 1 { "is" } else { "are" });
                return Err(args.bad(match max {
                    0 => format!("takes no arguments, got {extra}"),
                    _ => format!(
                        "too many arguments: {extra} {verb} extra (quote an argument that has spaces)"
                    ),
                }));
            }
        }
        match &command.action {
            Action::Run(handler) => handler(args).await.map(Outcome::Output),
            Action::Help => self.help(args.get(0)).map(Outcome::Output),
            Action::Quit => Ok(Outcome::Quit),
        }
    }

    /// The closest command name to a mistyped one.
    fn suggest(&self, name: &str) -> Option<String> {
        let commands = self.commands();
        // `connect` for `node.connect`.
        if let Some(c) = commands
            .iter()
            .find(|c| c.rsplit_once('.').is_some_and(|(_, last)| last == name))
        {
            return Some(c.clone());
        }
        commands
            .into_iter()
            .map(|c| (edit_distance(name, &c), c))
            .filter(|(d, c)| *d <= 2.max(c.len() / 4))
            .min()
            .map(|(_, c)| c)
    }

    /// `help`, or `help COMMAND`.
    pub fn help(&self, command: Option<&str>) -> CommandResult {
        if let Some(name) = command {
            let c = self.command(name).ok_or_else(|| CommandError::Unknown {
                name: name.to_string(),
                suggestion: self.suggest(name),
            })?;
            return Ok(format!(
                "{}\n  {}",
                format!("{name} {}", c.usage.text).trim_end(),
                c.summary
            ));
        }
        let commands = self.inner.commands.read();
        let lines: Vec<(String, &str)> = commands
            .iter()
            .map(|(name, c)| {
                (
                    format!("{name} {}", c.usage.text).trim_end().to_string(),
                    c.summary.as_str(),
                )
            })
            .collect();
        let width = lines.iter().map(|(u, _)| u.len()).max().unwrap_or(0);
        let mut out = format!(
            "{} console commands (Tab completes commands and arguments):\n",
            self.inner.app
        );
        for (usage, summary) in lines {
            out.push_str(&format!("  {usage:<width$}  {summary}\n"));
        }
        out.push_str(
            "Arguments are separated by spaces; quote one that has spaces ('a b'); \
             a JSON argument may be written as is ({\"a\": 1}).",
        );
        Ok(out)
    }

    /// Completions for `line` with the cursor at byte `pos`: where the word
    /// being completed starts, and the candidates for it.
    pub fn complete(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        let (words, start) = parse::words_before(line, pos);
        let partial = words.last().copied().unwrap_or("");
        let candidates = if words.len() == 1 {
            self.commands()
        } else {
            let index = words.len() - 2;
            let source = self.command(words[0]).and_then(|c| {
                let param = c.usage.param(index)?;
                self.inner.completions.read().get(&param.name).cloned()
            });
            source.map(|s| s()).unwrap_or_default()
        };
        let mut out: Vec<String> = candidates
            .into_iter()
            .filter(|c| c.starts_with(partial))
            .collect();
        out.sort();
        out.dedup();
        (start, out)
    }

    /// Makes sure the node is stopping (`quit` in a foreground console, a
    /// signal, the release's own shutdown): whoever runs the node waits for
    /// [`Console::shutdown_requested`]. Unlike [`ShutdownRequests::request`], this
    /// never counts as a second request.
    pub fn request_shutdown(&self) {
        self.inner.shutdown.ensure_requested();
    }

    /// Whether a shutdown was requested.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutdown.is_requested()
    }

    /// Resolves once a shutdown is requested.
    pub fn shutdown_requested(&self) -> impl Future<Output = ()> + Send + 'static {
        self.inner.shutdown.requested()
    }

    /// Resolves once a shutdown is requested a second time (a second `stop`,
    /// or a second signal): what was being done gracefully is to finish now.
    pub fn shutdown_requested_again(&self) -> impl Future<Output = ()> + Send + 'static {
        self.inner.shutdown.requested_again()
    }

    /// The switch that requests the shutdown, for a command handler (a
    /// handler that held the console itself would keep it alive for ever).
    pub fn shutdown_requests(&self) -> ShutdownRequests {
        self.inner.shutdown.clone()
    }
}

/// Requests a node's shutdown, for everyone waiting; see
/// [`Console::shutdown_requests`]. Requests are counted: the first starts a graceful
/// shutdown (an endpoint drains its sockets in batches), the second asks it to
/// finish at once.
#[derive(Debug, Clone)]
pub struct ShutdownRequests(Arc<watch::Sender<u32>>);

impl Default for ShutdownRequests {
    fn default() -> Self {
        ShutdownRequests(Arc::new(watch::channel(0).0))
    }
}

impl ShutdownRequests {
    /// One more request: the first starts the shutdown, the next hurries it.
    pub fn request(&self) {
        self.0.send_modify(|count| *count = count.saturating_add(1));
    }

    /// The first request, unless there was one already.
    pub fn ensure_requested(&self) {
        self.0.send_if_modified(|count| {
            let first = *count == 0;
            if first {
                *count = 1;
            }
            first
        });
    }

    /// Whether it was requested.
    pub fn is_requested(&self) -> bool {
        *self.0.borrow() > 0
    }

    /// Resolves once it is requested.
    pub fn requested(&self) -> impl Future<Output = ()> + Send + 'static {
        self.requested_times(1)
    }

    /// Resolves once it is requested a second time.
    pub fn requested_again(&self) -> impl Future<Output = ()> + Send + 'static {
        self.requested_times(2)
    }

    fn requested_times(&self, times: u32) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.0.subscribe();
        async move {
            let _ = rx.wait_for(|count| *count >= times).await;
        }
    }
}

/// Levenshtein distance, for "did you mean".
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn console() -> Console {
        let console = Console::new("test");
        console
            .register("pair", "A B [C]", "two or three", |args| async move {
                Ok(format!(
                    "{}+{}+{:?}",
                    args.get(0).unwrap(),
                    args.get(1).unwrap(),
                    args.get(2)
                ))
            })
            // Over shared state: the separator.
            .register_with(
                "echo",
                "[WORDS...]",
                "prints its arguments",
                &"|",
                |separator, args| async move { Ok(args.all().join(separator)) },
            )
            .register("json", "VALUE", "parses JSON", |args| async move {
                Ok(args.json(0, "VALUE", None)?.to_string())
            })
            .register("node.connect", "NODE", "connects", |args| async move {
                Ok(format!("connected to {}", args.get(0).unwrap()))
            })
            .register("fail", "", "always fails", |_| async move {
                Err(CommandError::failed("it broke"))
            });
        console.complete_param(
            "NODE",
            Arc::new(|| vec!["back@127.0.0.1".into(), "web@127.0.0.1".into()]),
        );
        console
    }

    async fn out(console: &Console, line: &str) -> String {
        match console.run(line).await {
            Ok(Outcome::Output(s)) => s,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[tokio::test]
    async fn runs_commands_with_their_arguments() {
        let c = console();
        assert_eq!(out(&c, "echo a 'b c' {\"d\": 1}").await, "a|b c|{\"d\": 1}");
        assert_eq!(out(&c, "echo").await, "");
        assert_eq!(out(&c, "pair 1 2").await, "1+2+None");
        assert_eq!(out(&c, "pair 1 2 3").await, "1+2+Some(\"3\")");
        assert_eq!(out(&c, "json {\"a\": [1, 2]}").await, "{\"a\":[1,2]}");
        assert_eq!(out(&c, "").await, "");
        assert_eq!(out(&c, "  # comment").await, "");
        assert_eq!(c.run("quit").await, Ok(Outcome::Quit));
    }

    #[tokio::test]
    async fn unknown_commands_get_a_suggestion() {
        let c = console();
        let err = c.run("ecko hi").await.unwrap_err();
        assert_eq!(err.kind(), "unknown_command");
        assert!(err.to_string().contains("did you mean \"echo\""), "{err}");
        let err = c.run("connect back@127.0.0.1").await.unwrap_err();
        assert!(
            err.to_string().contains("did you mean \"node.connect\""),
            "{err}"
        );
        let err = c.run("zzzzzzzz").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown command \"zzzzzzzz\" (help lists the commands)"
        );
    }

    #[tokio::test]
    async fn bad_arguments_say_what_and_show_the_usage() {
        let c = console();
        let err = c.run("pair 1").await.unwrap_err();
        assert_eq!(err.kind(), "bad_arguments");
        assert_eq!(err.to_string(), "pair: missing B\nusage: pair A B [C]");
        let err = c.run("pair 1 2 3 4").await.unwrap_err();
        assert!(err.to_string().contains("\"4\" is extra"), "{err}");
        let err = c.run("fail now").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "fail: takes no arguments, got \"now\"\nusage: fail"
        );
        let err = c.run("json {nope}").await.unwrap_err();
        assert!(err.to_string().contains("not valid JSON"), "{err}");
        let err = c.run("echo 'open").await.unwrap_err();
        assert!(err.to_string().contains("unterminated ' quote"), "{err}");
        let err = c.run("fail").await.unwrap_err();
        assert_eq!((err.kind(), err.to_string()), ("failed", "it broke".into()));
    }

    #[tokio::test]
    async fn help_lists_and_describes() {
        let c = console();
        let all = out(&c, "help").await;
        assert!(all.contains("node.connect NODE"), "{all}");
        assert!(all.contains("pair A B [C]"), "{all}");
        assert!(all.contains("quit"), "{all}");
        assert_eq!(out(&c, "help pair").await, "pair A B [C]\n  two or three");
        assert!(c.run("help nope").await.is_err());
    }

    #[test]
    fn completes_commands_and_parameters() {
        let c = console();
        assert_eq!(c.complete("no", 2), (0, vec!["node.connect".to_string()]));
        assert_eq!(c.complete("", 0).1, c.commands());
        assert_eq!(
            c.complete("node.connect w", 14),
            (13, vec!["web@127.0.0.1".to_string()])
        );
        assert_eq!(c.complete("node.connect ", 13).1.len(), 2);
        assert_eq!(c.complete("help ec", 7), (5, vec!["echo".to_string()]));
        assert!(c.complete("pair x ", 7).1.is_empty());
        assert!(c.complete("unknown ", 8).1.is_empty());
    }

    #[tokio::test]
    async fn shutdown_is_requested_once_for_everyone() {
        let c = console();
        let waiting = tokio::spawn(c.shutdown_requested());
        assert!(!c.is_shutting_down());
        c.clone().request_shutdown();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
        assert!(c.is_shutting_down());
        // Waiting after the fact returns at once.
        c.shutdown_requested().await;
    }

    #[tokio::test]
    async fn a_second_stop_request_is_told_apart_from_the_first() {
        let c = console();
        let again = tokio::spawn(c.shutdown_requested_again());
        let stop = c.shutdown_requests();
        stop.request();
        // Making sure the node is stopping is not a second request.
        c.request_shutdown();
        tokio::task::yield_now().await;
        assert!(c.is_shutting_down());
        assert!(!again.is_finished(), "one request, counted twice");
        stop.request();
        tokio::time::timeout(std::time::Duration::from_secs(5), again)
            .await
            .unwrap()
            .unwrap();
    }

    #[test]
    fn usage_lines() {
        let u = Usage::parse("TOPIC EVENT [JSON]");
        assert_eq!((u.required(), u.max()), (2, Some(3)));
        let u = Usage::parse("WORDS...");
        assert_eq!((u.required(), u.max()), (1, None));
        assert_eq!(u.param(5).unwrap().name, "WORDS");
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
