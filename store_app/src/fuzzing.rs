//! Entry points for the fuzz targets in `fuzz/`, compiled only under
//! `cargo fuzz` (which sets `--cfg fuzzing`): what another node sends the
//! store's code. None may panic, hang or allocate without bound, whatever
//! the input.

use runtime::node::wire;

use crate::catalogue;
use crate::inventory::Inventory;
use crate::model::{Availability, Product, Snapshot};
use crate::replication::ReplicationEvent;
use crate::store_requests::{Seeded, StoreFailure, StoreRequest, StoreStatus};

/// A request to the store service from another node (the bincode of a
/// ractor call), and the answers a node decodes from the store.
pub fn store_call(args: &[u8]) {
    let _ = wire::decode::<StoreRequest>(args);
    let _ = wire::decode::<Result<Snapshot, StoreFailure>>(args);
    let _ = wire::decode::<Result<Product, StoreFailure>>(args);
    let _ = wire::decode::<Result<(Availability, Availability), StoreFailure>>(args);
    let _ = wire::decode::<Result<Vec<(Availability, Availability)>, StoreFailure>>(args);
    let _ = wire::decode::<Result<Seeded, StoreFailure>>(args);
    let _ = wire::decode::<Result<StoreStatus, StoreFailure>>(args);
}

/// A replication message from another node (JSON), applied to a node's
/// memory of the demo catalogue as the replication server applies it.
pub fn replication_event(json: &[u8]) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(json) else {
        return;
    };
    let Ok(event) = serde_json::from_value::<ReplicationEvent>(value) else {
        return;
    };
    let mut memory = Inventory::new(catalogue::demo());
    match event {
        ReplicationEvent::MarkProductReleased { product_id } => {
            let _ = memory.mark_product_released(product_id);
        }
        ReplicationEvent::ItemSold { availability } => {
            let _ = memory.apply_sale(availability);
        }
        ReplicationEvent::CatalogueChanged => {}
    }
    let _ = memory.complete_products();
}

/// Real store calls and answers (bincode) and replication events (JSON),
/// for the seed corpus.
pub fn examples() -> Vec<(&'static str, Vec<u8>)> {
    use crate::store_requests::{ItemSold, LoadSnapshot, Purchase, PurchaseOrder};
    let mut out = Vec::new();
    let requests = [
        StoreRequest::LoadSnapshot(LoadSnapshot),
        StoreRequest::ItemSold(ItemSold(2)),
        StoreRequest::Purchase(Purchase(vec![2, 13])),
        StoreRequest::PurchaseOrder(PurchaseOrder {
            items: vec![2, 13],
            order: [9; 32],
        }),
    ];
    for request in &requests {
        if let Ok(bytes) = wire::encode(request) {
            out.push(("store_call", bytes));
        }
    }
    let answer: Result<Snapshot, StoreFailure> = Ok(catalogue::demo());
    if let Ok(bytes) = wire::encode(&answer) {
        out.push(("store_call", bytes));
    }
    let events = [
        ReplicationEvent::MarkProductReleased { product_id: 2 },
        ReplicationEvent::ItemSold {
            availability: Availability {
                item_id: 2,
                available_count: 24,
            },
        },
        ReplicationEvent::CatalogueChanged,
    ];
    for event in &events {
        if let Ok(bytes) = serde_json::to_vec(event) {
            out.push(("replication_event", bytes));
        }
    }
    out
}
