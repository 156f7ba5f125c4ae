// Package taskrouter is TaskRouter's wire vocabulary, defined once: SID
// kinds and their validation, the assignment callback's parameters, event
// types, task/reservation/worker statuses, instruction names and request
// signing. It imports no assignd package, so the service, the emulator and
// tools all take these facts from here rather than from each other.
package taskrouter
