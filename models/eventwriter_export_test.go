package models

// PausedEventWriter returns an EventWriter whose goroutine has not started, so a test
// can queue callers and decide when their batch is taken; start starts it, and shut
// closes it without waiting. queued and beforeWrite are the writer's hooks (nil: none).
func PausedEventWriter(store *Store, opts EventWriterOptions, queued func(n int), beforeWrite func([]*Event)) (w *EventWriter, start, shut func()) {
	w = newEventWriter(store, opts)
	w.queued, w.beforeWrite = queued, beforeWrite
	return w, w.start, w.shut
}
