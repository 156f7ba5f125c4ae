// Package emulator is a local TaskRouter: Twilio's TaskRouter REST API
// (/v1/Workspaces/…) served in memory, with the routing lifecycle behind it,
// so code written for TaskRouter — assignd, the tutorial's curl lines, any
// Twilio helper library pointed at its base URL — runs offline.
//
// An Emulator is an http.Handler:
//
//	emu, err := emulator.New(emulator.Options{AccountSid: "AC…", AuthToken: "…"})
//	spec := emulator.Tutorial()                       // or emulator.LoadWorkspaceFile(path)
//	spec.Workflows[0].AssignmentCallbackURL = "http://localhost:8080/assignment"
//	sids, err := emu.Load(spec)                       // stable SIDs; fmt.Print(sids) lists them
//	http.ListenAndServe("localhost:8081", emu)
//
// A workspace of your own is a YAML file in the format WorkspaceSpec
// documents (LoadWorkspaceFile), or is built over the REST API as on Twilio.
//
// `assignd emulator` serves one alone; `assignd dev` runs one in the same
// process as the service, wired to it (README: "Run the tutorial offline").
//
// What it does, as Twilio documents it:
//
//   - REST: workspaces, activities, workers, task queues, workflows, tasks,
//     reservations (under a task and under a worker), task channels, worker
//     channels and events, with Twilio's
//     form parameters, JSON shapes (list pages with meta, url and links,
//     ISO 8601 dates, SIDs with the right prefixes), Basic auth (account SID
//     and auth token, or API key and secret) and error bodies
//     {"code","message","more_info","status"}: 20003 unauthenticated, 20404
//     not found, 20001 invalid parameter (including "Reservation … is not in
//     expected state"), 20429 too many requests. A task's, a worker's and
//     a reservation's answers carry its ETag (a revision counting its
//     changes, quoted); a task or worker update or delete, or a
//     reservation update, whose If-Match names another revision is refused
//     412 20412 and changes nothing. Worker attributes are null in the worker list, shown on
//     fetch, create and update, as Twilio's description of the field says.
//     Lists sort by Ordering (Attribute:asc|desc pairs): tasks by
//     DateCreated, Priority and VirtualStartTime, as Twilio's OpenAPI
//     describes; workers by DateStatusChanged and task queues by
//     DateUpdated, the values twilio-taskrouter.js's tests use against
//     TaskRouter (the OpenAPI says only "Sorting parameter"), any other
//     attribute refused. HasAddons=true lists no task: the emulator's tasks
//     have no add-ons. RoutingTarget lists the tasks created with it.
//     The tests check every exchange against Twilio's OpenAPI description.
//   - Nothing silently ignored (strict.go): a create or update parameter the
//     emulator does not carry out (SupportedParams lists the ones it does),
//     a GET query parameter its handler does not read, a value it does not
//     carry out (Template=FIFO) and a workflow Configuration key it does not
//     know (a misspelt one) is refused with 400 20001 naming it ("Parameter
//     IgnoreCapacity is not supported by the emulator", "key
//     task_routing.filters[0].targets[1].ordre_by"), before anything is
//     applied. Options.AllowUnsupported accepts them instead, with a warning
//     in Options.Log naming each. Every If-Match request header Twilio
//     describes (tasks, workers, reservations) is carried out (412 20412
//     when stale). A workspace file's queue reservation_activity or
//     assignment_activity is refused unless multi_task_enabled is false (a
//     multitasking worker's activity does not follow their tasks); over
//     REST, as on Twilio, they are taken with a warning that they do
//     nothing until multitasking is turned off.
//   - Expressions (package emulator/expr) in target_workers, workflow
//     filters and targets (task. and worker. attributes) and list filters,
//     refused at create or update when invalid.
//   - Routing: a task enters its workflow's first matching filter (else
//     default_filter) and its first target; a target's timeout moves it to
//     the next target, then to the default_filter. A target's timeout runs
//     on the task's age (Twilio's Timeout Evaluation), not only while it is
//     pending: one that passes while the task is reserved moves it on as
//     soon as it is pending again (a reject, a reservation timeout), and
//     the next step's timeout counts from the end of the one before. A
//     target's skip_if
//     (over workers.available, workers.unavailable and workers.<ActivitySid>,
//     counted among the target queue's workers) moves it on at once when no
//     worker can be reserved for it on entering; skipping a filter's last
//     target goes on to the next matching filter, then the default_filter,
//     as Twilio documents; with nowhere left to go it does not skip (the
//     task waits there and the step's timeout applies). Moving on between
//     two targets of one queue is no new queue entry (no
//     task-queue.entered; task_queue_entered_date kept). Waiting tasks are offered in priority order;
//     among equal priorities from a FIFO and a LIFO queue, those of the
//     workspace's PrioritizeQueueOrder (FIFO unless set) first, Twilio's
//     reading of it ("which type of queue to prioritize when workers
//     receive tasks from both"); then by age (virtual_start_time — date_created unless VirtualStartTime set
//     it — then the time they entered the queue; FIFO, or newest first in a
//     LIFO queue), to available workers (their activity's available)
//     matching the queue's target_workers and the target's expression, in
//     the target's order_by ("worker.level DESC, worker.x ASC": numeric
//     worker attributes; a worker without one comes after those with it),
//     then the worker who has waited longest without a task first (Twilio's
//     default): one holding no task before one holding some, then by when
//     its wait began — its last reservation ending or its becoming
//     available, whichever is later, not its last activity change, which
//     in a multitasking workspace does not follow its tasks; a
//     known_worker_sid or
//     known_worker_friendly_name target ("task.agent_sid") offers it only to
//     the worker the task's attribute names. Up to max_reserved_workers
//     reservations at once. A RoutingTarget naming a task queue puts the
//     task straight into it; one naming a workflow routes it through that
//     workflow.
//   - Channels and capacity: a workspace starts with the task channels
//     Twilio's Multitasking page names (default, voice, sms, chat, video;
//     not email, which it does not name: add it); a task is on the channel
//     its TaskChannel names (SID or unique name; "default" when none).
//     Every worker has a worker channel per task channel, available, with
//     capacity 1 until updated (Twilio documents no default; 1 keeps a
//     worker to one task per channel, as before channels). A worker is
//     offered a task while that channel is available and its pending,
//     accepted and wrapping reservations are below its capacity, never the
//     same task twice at once. multi_task_enabled defaults to true, as
//     Twilio's OpenAPI description says; then a queue's reservation and
//     assignment activities are not applied (Multitasking: the worker stays
//     in an available activity). Without it a worker takes one task at a
//     time across channels ("only … a new reservation when the previous
//     task is completed") and the queue's activities move them.
//   - The assignment callback: POSTed when a reservation is created with
//     Twilio's parameters, signed (X-Twilio-Signature, taskrouter.Sign) with the
//     auth token; an answer later than CallbackTimeout (5 s), not 200, not
//     application/json or not a JSON object goes to the fallback URL. The
//     answer is carried out like the REST update: accept; reject (worker moved
//     to activity_sid, task offered again); dequeue, call, redirect, conference
//     (the instruction and its parameters recorded on the reservation as
//     "instruction" and "instruction_parameters"; dequeue and conference
//     accept it, call and redirect only with accept true, otherwise it stays
//     pending for a later accept, as on Twilio); `{}` leaves
//     the reservation pending until a REST update or task_reservation_timeout
//     (then timeout, and the worker moves to the timeout activity). The first
//     accept of a multi-reservation wins; the others are rescinded.
//   - Task lifecycle pending → reserved → assigned → wrapping → completed,
//     or canceled (REST, task Timeout, or MaxReservationAttempts).
//     Every task and reservation status change, with the timers it sets or
//     stops, the worker activity it moves and the events it emits, is one
//     row of the lifecycle table, lifecycleRows in lifecycle.go; a change
//     with no row is refused (400 20001 over REST).
//   - Events: recorded for the Events API and POSTed, signed, in order, to
//     the workspace's event_callback_url unless events_filter leaves them out.
//     Besides the task, task-queue, reservation and worker events:
//     workflow.entered when a task enters its workflow,
//     workflow.target-matched for each target it enters, workflow.skipped
//     when skip_if moves it on, and workflow.timeout when its last step's
//     timeout passes with nowhere left to go (the task is then canceled,
//     reason WorkflowTimeoutReason); these carry WorkflowFilterName, WorkflowFilterExpression and
//     WorkflowFilterTargetExpression. worker.activity.update carries
//     WorkerTimeInPreviousActivity (seconds) and
//     WorkerTimeInPreviousActivityMs. A worker channel update emits
//     worker.capacity.update when it changes the capacity and
//     worker.channel.availability.update when it changes the availability
//     (one that changes neither emits nothing), with the worker's fields and
//     WorkerChannelSid, TaskChannelSid, TaskChannelUniqueName,
//     WorkerChannelCapacity and WorkerChannelAvailable: Twilio names these
//     events (its JS SDK's and Flex's event lists) but documents no fields
//     for them, so these names follow the worker channel resource's.
//   - Statistics (statistics.go): every statistics operation of the OpenAPI
//     description. Workspace, task queue and workflow Statistics,
//     CumulativeStatistics and RealTimeStatistics; the task queues'
//     Statistics list (FriendlyName) and bulk RealTimeStatistics (POST, up
//     to 50 queues named in the JSON body's TaskQueueSids, every queue when
//     it names none; any other body key, TaskChannel too, which the
//     operation does not document, is 400 20001 naming it); the workers' Statistics (TaskQueueSid, TaskQueueName,
//     FriendlyName), CumulativeStatistics and RealTimeStatistics, and one
//     worker's Statistics. Cumulative figures count what happened in a
//     window: the last Minutes (default 15, as on Twilio), or StartDate to
//     EndDate, both included (15 minutes before EndDate without StartDate;
//     Minutes with either is refused, as Twilio documents); TaskChannel
//     (SID or unique name) and SplitByWaitTime (below: at most that many
//     seconds) as Twilio defines them. Waits are whole seconds from the
//     task's creation, averages rounded; a workflow's tasks_entered counts
//     workflow.entered (not a task a RoutingTarget sends straight to a
//     queue). Real-time figures read the tasks and workers as they are now.
//     TaskChannel on a real-time figure ("Only calculate real-time
//     statistics on this TaskChannel", which says no more) counts that
//     channel's tasks and, for total_workers, total_available_workers and
//     the workspace's and workers' activity_statistics, the workers whose
//     worker channel for it is available with capacity above 0, the ones
//     it can route to. A worker channel's available_capacity_percentage
//     counts pending reservations against capacity, as routing does.
//     Completed and canceled tasks are deleted by the system five minutes
//     later, as Twilio documents, with a task.system-deleted event.
//     Invalid parameters are 400 20001 naming them. Request bodies are read
//     (up to 10 MB) before the emulator's lock is taken.
//     The cumulative figures come from a statistics log (stats_log.go): one
//     small record per event a figure counts, taken in emit, which every
//     event passes. It is kept apart from the events table, which
//     Options.History trims far below a day; it counts nothing older than
//     Twilio's 30 days of history and holds at most 500,000 records per
//     workspace (about 90 MB; a ring, each new record over the oldest), so
//     a long run at full speed stays in bounded memory.
//   - Faults (Script, Options.FaultRate, Options.Latency): per endpoint and
//     per resource, 429 with Retry-After, 5xx before or after applying, a
//     proxy's 502 HTML page, delays, dropped connections, Twilio error
//     bodies with a chosen code and message (a refused parameter: 400
//     20001, the reservation left pending), answers held after applying,
//     2xx bodies broken or cut, and a task moved on to wrapping or
//     completed right after an update applied (Fault.ThenStatus).
//
// Time comes from a Clock: RealClock by default, or a ManualClock that tests
// Advance to fire reservation, task and target timeouts. Inspection methods
// (Reservation, Reservations, Task, Workspace, Callbacks, EventDeliveries,
// Stats) show what happened without going through the API: per reservation
// the updates, their arrival times, the GETs, the calls placed.
// SetWorkerActivity goes through the API, in process (the inspector's
// button, via package inspect/emuview). Package emulatortest sets up
// pending reservations for a client's tests.
//
// Of this module it imports only package taskrouter (the wire vocabulary),
// so a Go team can run it in their own tests without pulling in the
// service; deps_test.go at the module root holds it to that.
//
// Knowingly simplified, each with its reason: Template=FIFO is refused (400
// 20001), as the emulator makes no sample queue and workflow;
// ChannelOptimizedRouting is refused, as routing across channels by idle
// time is not emulated; a RoutingTarget naming a worker is refused, and so
// is IgnoreCapacity (routing past availability and capacity is not
// emulated); a task update's Reason is refused unless AssignmentStatus is
// canceled or completed, the change Twilio documents it as the reason for;
// a task channel a live task uses cannot be deleted (the emulator's choice,
// so no worker capacity vanishes under a task); dequeue, call, redirect and
// conference instructions record the call they would place without placing
// it; skip_if's "can be reserved at once" asks whether any free worker is
// eligible, not whether a higher-priority task would take it first;
// statistics count only what this emulator saw (a loaded workspace starts
// with none) and, to stay in bounded memory, no more than the log's 30 days
// and 500,000 records per workspace. Worker attributes are null in lists
// and shown on fetch, create and update: Twilio's description shows them
// "only ... in FETCH actions that return a single resource", and the
// emulator takes "a single resource" as the point, since a create's or
// update's answer is the one worker whose attributes the caller just sent;
// lists, which the description hides them from, show null. Refused for want
// of a documented effect: a task create's TaskQueueSid ("the TaskQueue in
// which the Task belongs", beside RoutingTarget and the workflow, which
// route it), a task update's TaskChannel (documented only as "the
// TaskChannel with the task to update"; a task's channel decides which
// workers it may reach, so changing it mid-route has no documented
// outcome), workers' and task queues' Ordering by other attributes than
// DateStatusChanged and DateUpdated (Twilio names none), and PageToken (the
// emulator's pages are Page and PageSize offsets, its next_page_url carries
// no token, so a token is another server's cursor).
package emulator
