// Package forward is the platform's repartition step (Kafka Streams' name for it):
// a consumer group that reads every partition of the events topic and makes each
// message one the layers can count or a dead letter.
//
// Producers partition as they like — librdkafka clients (kcat, confluent-kafka)
// hash keys with CRC32, kafka-go's Writer goes round-robin, Sarama uses FNV-1a,
// keyless messages land anywhere — while the layers need every event of an entity
// in one partition, its home: murmur2(entity_id) over the topic's partitions
// (kafka.PartitionFor), the Java client's default. kafka.ReadEvent places each
// message:
//
//   - Home: a valid event in its home partition under key entity_id. Nothing to do;
//     the archiver and the speed layer fold it.
//   - Stray: a valid event anywhere else, or under another key or none. The
//     forwarder produces a copy to its home partition — key entity_id, the same
//     value, the original headers plus lambda.forwarded-from = "partition/offset",
//     the original timestamp (its arrival) — and the layers skip the original.
//   - Invalid: not an event, breaking its schema, or its ts more than the allowed
//     clock skew ahead of its timestamp. The forwarder copies it to the dead-letter
//     topic with the dlq.* headers (reason among them); the layers skip it.
//
// # Delivery
//
// Messages are taken in batches (Config.BatchMessages, or Config.FlushInterval
// after a batch's first message); the copies of a batch are produced and
// acknowledged before its offsets are committed. A crash in between makes the next
// member forward those messages again, so a home partition can hold two copies of
// one stray event: both layers fold an entity's event_id once (the speed layer
// also across a batch cutoff, see speedlayer's DedupHorizon), so the copies count
// once.
//
// # Metrics
//
// Registered on the Registerer given to New:
//
//	lambda_ingest_messages_total             counter  messages read, by placement (home, stray, invalid)
//	lambda_ingest_forwarded_events_total     counter  stray events copied home, by the partition they were in
//	lambda_ingest_dead_letters_total         counter  invalid messages dead-lettered, by reason
//	lambda_ingest_forwarder_lag_messages     gauge    per partition: messages after the last committed one
//	lambda_ingest_forwarder_errors_total     counter  failed attempts (each retried), by stage: fetch, produce, commit
package forward
