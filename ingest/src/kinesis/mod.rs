//! Kinesis on both sides of the pipeline: the record shapes ([`event`]; the Lambda's event read
//! in one pass, [`lambda_event`]), an SDK client
//! ([`client`]), the producer ([`producer`]), and the shard walker ([`consumer`]) that reads
//! every shard in lineage order, checkpoints in the lake ([`checkpoint`]) and hands batches
//! to a [`consumer::BatchSink`]: the processor in-process or the Lambda over HTTP
//! ([`invoker`]); [`replay`] describes the shard ranges a replay reads again.

pub mod checkpoint;
pub mod client;
pub mod consumer;
pub mod event;
pub mod invoker;
pub mod lambda_event;
pub mod producer;
pub mod replay;
pub mod shards;
