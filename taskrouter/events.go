package taskrouter

import "strings"

// Event types the emulator emits and the events endpoint reads, as
// TaskRouter spells them.
const (
	EventTaskCreated          = "task.created"
	EventTaskUpdated          = "task.updated"
	EventTaskCanceled         = "task.canceled"
	EventTaskWrapup           = "task.wrapup"
	EventTaskCompleted        = "task.completed"
	EventTaskDeleted          = "task.deleted"
	EventTaskQueueEntered     = "task-queue.entered"
	EventTaskQueueMoved       = "task-queue.moved"
	EventTaskQueueTimeout     = "task-queue.timeout"
	EventReservationCreated   = "reservation.created"
	EventReservationAccepted  = "reservation.accepted"
	EventReservationWrapup    = "reservation.wrapup"
	EventReservationCompleted = "reservation.completed"
	EventWorkerCreated        = "worker.created"
	EventWorkerAttributes     = "worker.attributes.update"
	EventWorkerActivity       = "worker.activity.update"
	EventWorkerDeleted        = "worker.deleted"
	// A worker channel's configured capacity, or its availability, changed.
	EventWorkerCapacity            = "worker.capacity.update"
	EventWorkerChannelAvailability = "worker.channel.availability.update"
	EventWorkflowEntered           = "workflow.entered"
	EventWorkflowTargetMatched     = "workflow.target-matched"
	EventWorkflowSkipped           = "workflow.skipped"
	EventWorkflowTimeout           = "workflow.timeout"
)

// reservationEventPrefix starts every reservation event type.
const reservationEventPrefix = "reservation."

// ReservationEvent is the event type for a reservation entering status,
// e.g. reservation.rejected.
func ReservationEvent(status string) string { return reservationEventPrefix + status }

// IsReservationEvent reports whether typ is about a reservation.
func IsReservationEvent(typ string) bool { return strings.HasPrefix(typ, reservationEventPrefix) }

// Task assignment statuses.
const (
	TaskPending   = "pending"
	TaskReserved  = "reserved"
	TaskAssigned  = "assigned"
	TaskWrapping  = "wrapping"
	TaskCompleted = "completed"
	TaskCanceled  = "canceled"
)

// Reservation statuses.
const (
	ReservationPending   = "pending"
	ReservationAccepted  = "accepted"
	ReservationRejected  = "rejected"
	ReservationTimeout   = "timeout"
	ReservationCanceled  = "canceled"
	ReservationRescinded = "rescinded"
	ReservationWrapping  = "wrapping"
	ReservationCompleted = "completed"
)
