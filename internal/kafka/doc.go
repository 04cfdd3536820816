// Package kafka holds the platform's Kafka plumbing on top of
// github.com/segmentio/kafka-go: explicit topic creation (EnsureTopics), the
// producer every component uses (NewWriter), the key → partition mapping
// (PartitionFor) and the rule every reader of the events topic places a message
// by (ReadEvent).
//
// # Partitioning
//
// Every event of an entity is folded in one partition, its home:
// (murmur2(entity_id) & 0x7fffffff) % partitions, the Java client's default,
// which the platform's Writer uses too. Producers may partition as they like —
// librdkafka's consistent_random (CRC32: kcat, confluent-kafka), kafka-go's
// round-robin, Sarama's FNV-1a, no key at all: ReadEvent calls such an event
// Stray, the forwarder (package forward) copies it home under key entity_id,
// and the layers fold only the copy. A topic's partition count must never
// change, since that moves homes.
package kafka
