//! Records that repeat within one batch: the same source with the same bytes shares the
//! first record's fate; the same source with other bytes is a record of its own (valid or
//! invalid, new or a duplicate). A retry of the batch, warm or in a fresh processor, finds
//! every record done and changes nothing in the lake.

use crate::common;

use common::{T0, all_succeeded, event_json, processor, read_lake, record};
use ingest::batch::{Counts, RecordOutcome};
use ingest::source::SourceRecord;
use ingest::storage::{Lake, StoreOptions};

const CREATED: i64 = 1_700_000_000;

fn batch() -> Vec<SourceRecord> {
    let shard = "shardId-000000000000";
    let first = event_json("u-1", "payment:order:completed", CREATED);
    vec![
        record(shard, 1, first.clone()),
        // the same source, the same bytes: a replay inside the batch
        record(shard, 1, first),
        // the same uuid from another source, other bytes: a duplicate of record 0
        record(
            shard,
            2,
            event_json("u-1", "payment:order:completed", CREATED + 5),
        ),
        // the source of record 2 with other bytes: a new event of its own
        record(shard, 2, event_json("u-2", "app:opened", CREATED)),
        // record 3 again, exactly: mirrors it
        record(shard, 2, event_json("u-2", "app:opened", CREATED)),
        // invalid twice at one source with the same bytes, then with other bytes
        record(shard, 3, "not json"),
        record(shard, 3, "not json"),
        record(shard, 3, "{not json either"),
        // a valid event at the source of an invalid record
        record(shard, 3, event_json("u-3", "app:opened", CREATED)),
    ]
}

#[tokio::test]
async fn repeats_in_a_batch_share_a_fate_only_with_the_same_bytes_and_a_retry_changes_nothing() {
    let lake = Lake::open("memory://", &StoreOptions::default()).expect("lake");
    let records = batch();
    let mut warm = processor(&lake, "repeats").await;
    let first = warm.process(&records, T0).await.expect("first attempt");
    assert!(all_succeeded(&first.outcomes), "{:?}", first.outcomes);
    let counts = first.counts();
    // A replay inside the batch reports its first record's outcome (so counts it again).
    assert_eq!(
        (
            counts.written,
            counts.duplicates,
            counts.quarantined,
            counts.already_committed
        ),
        (5, 1, 3, 0),
        "{counts:?}"
    );
    let rows = read_lake(&lake).await.sorted();
    let uuids: Vec<&str> = rows.events.iter().map(|(u, _)| u.as_str()).collect();
    assert_eq!(uuids, ["u-1", "u-2", "u-3"]);
    assert_eq!(rows.duplicates.len(), 1);
    assert_eq!(
        rows.duplicates[0].2, records[0].source,
        "the duplicate points at record 0"
    );
    assert_eq!(rows.quarantine.len(), 2);

    let mut cold = processor(&lake, "repeats-cold").await;
    for (name, p) in [("warm", &mut warm), ("cold", &mut cold)] {
        let retry = p.process(&records, T0 + 1_000).await.expect("retry");
        assert!(all_succeeded(&retry.outcomes), "{name}: {:?}", retry.outcomes);
        let again: Counts = retry.counts();
        assert_eq!(
            (again.written, again.duplicates, again.quarantined),
            (counts.written, counts.duplicates, counts.quarantined),
            "{name}: {again:?}"
        );
        assert_eq!(again.already_committed, records.len() as u64, "{name}");
        assert!(
            retry
                .outcomes
                .iter()
                .all(|o| matches!(o, RecordOutcome::AlreadyCommitted(_))),
            "{name}: {:?}",
            retry.outcomes
        );
        assert_eq!(
            read_lake(&lake).await.sorted(),
            rows,
            "{name}: the lake is unchanged"
        );
    }
}
