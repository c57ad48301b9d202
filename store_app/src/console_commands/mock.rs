//! `mock.*`: the book's mock shoppers, started and stopped from the console.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use runtime::console::{CommandError, Console};
use tokio::task::JoinHandle;

use crate::mock;
use crate::sneakers23::Sneakers23;

/// Registers `mock.sell_random_until_gone` and `mock.stop`.
pub(super) fn register(console: &Console, context: &Sneakers23) {
    // The running shoppers' task, shared by both commands.
    let shoppers: Arc<Mutex<Option<JoinHandle<()>>>> = Arc::default();
    console.register_with(
        "mock.sell_random_until_gone",
        "DELAY_MS",
        "mock shoppers: sell a random in-stock size of a released product every DELAY_MS until all are gone",
        &(context.clone(), shoppers.clone()),
        |(ctx, running), args| async move {
            let delay: u64 = args.parse(0, "DELAY_MS")?;
            let products = ctx.get_complete_products().await.map_err(CommandError::failed)?;
            let left = mock::sellable(&products).len();
            let mut slot = running.lock();
            if slot.as_ref().is_some_and(|task| !task.is_finished()) {
                return Err(CommandError::failed(
                    "mock shoppers are already running here (mock.stop stops them)",
                ));
            }
            *slot = Some(tokio::spawn(async move {
                let _ = mock::sell_random_until_gone(&ctx, Duration::from_millis(delay)).await;
            }));
            Ok(format!(
                "mock shoppers started: one sale every {delay} ms; {left} sizes in stock"
            ))
        },
    );
    console.register_with(
        "mock.stop",
        "",
        "stops the mock shoppers",
        &shoppers,
        |running, _| async move {
            match running.lock().take() {
                Some(task) if !task.is_finished() => {
                    task.abort();
                    Ok("mock shoppers stopped".to_string())
                }
                _ => Ok("no mock shoppers were running".to_string()),
            }
        },
    );
}
