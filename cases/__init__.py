"""Cases: what people do with a filed claim (decide, approve, move its ticket, work the queue)."""
