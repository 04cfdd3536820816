package kafka

import (
	"fmt"

	kafkago "github.com/segmentio/kafka-go"
)

// keyBalancer is the Writer's murmur2 balancer; Consistent only changes how a
// nil key is handled, which PartitionFor then hashes like an empty key.
var keyBalancer = kafkago.Murmur2Balancer{Consistent: true}

// partitionIDs is 0, 1, 2, ...: kafka-go hands a balancer the IDs of all
// partitions of the topic in this order, and a balancer only reads them.
var partitionIDs = func() []int {
	ids := make([]int, 1024)
	for i := range ids {
		ids[i] = i
	}
	return ids
}()

// PartitionFor returns the partition a Writer sends key to in a topic with
// the given number of partitions: (murmur2(key) & 0x7fffffff) % partitions,
// the same as the Java client's default partitioner and librdkafka's
// murmur2_random. It panics if partitions is not positive.
func PartitionFor(key []byte, partitions int) int {
	if partitions < 1 {
		panic(fmt.Sprintf("kafka.PartitionFor: %d partitions", partitions))
	}
	ids := partitionIDs
	if partitions > len(ids) {
		ids = make([]int, partitions)
		for i := range ids {
			ids[i] = i
		}
	}
	return keyBalancer.Balance(kafkago.Message{Key: key}, ids[:partitions]...)
}
