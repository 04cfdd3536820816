// Package kafka holds the platform's Kafka plumbing on top of
// github.com/segmentio/kafka-go: explicit topic creation (EnsureTopics), the
// producer every component uses (NewWriter) and the key → partition mapping
// (PartitionFor) the speed and batch layers use to know an entity's partition.
//
// # Partitioning
//
// The message key is the entity_id and every event of an entity must land in
// one partition. Writers use the murmur2 partitioner, the Java client's
// default: partition = (murmur2(key) & 0x7fffffff) % partitions. Any other
// producer writing to the platform's topics must partition keys the same way.
// The Java client and franz-go do so by default. librdkafka clients (kcat,
// confluent-kafka-go, confluent-kafka-python, node-rdkafka) do not: their
// default, consistent_random, hashes with CRC32 and sends keys elsewhere. Set
// partitioner=murmur2_random on them; with kcat:
//
//	kcat -P -b 127.0.0.1:9092 -t events -K '|' -X partitioner=murmur2_random
//
// Keyless messages go to a random partition; the platform never writes them.
// A topic's partition count must never change, since that moves keys.
package kafka
