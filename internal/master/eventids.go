package master

import (
	"context"
	"fmt"
	"time"
)

// EventIDs calls fn with the entity_id and event_id of every archived event of Kafka
// partition at offsets in (after, upTo] with an event time at or after since: what the
// speed layer needs to recognise an event the batch layer already counted. The time
// bound prunes the table's monthly partitions; DISTINCT drops redelivered copies not
// yet merged away.
func (d *Dataset) EventIDs(ctx context.Context, partition int, after, upTo int64, since time.Time, fn func(entityID, eventID string)) error {
	rows, err := d.conn.Query(ctx, "SELECT DISTINCT entity_id, event_id FROM "+d.events+
		" WHERE kafka_partition = ? AND kafka_offset > ? AND kafka_offset <= ? AND ts >= ?",
		int32(partition), after, upTo, max(0, since.Unix()))
	if err != nil {
		return fmt.Errorf("read archived event ids of partition %d: %w", partition, err)
	}
	defer rows.Close()
	for rows.Next() {
		var entityID, eventID string
		if err := rows.Scan(&entityID, &eventID); err != nil {
			return fmt.Errorf("read archived event ids of partition %d: %w", partition, err)
		}
		fn(entityID, eventID)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read archived event ids of partition %d: %w", partition, err)
	}
	return nil
}
