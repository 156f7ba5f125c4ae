// Package report is what `assignd simulate` measured, one Report per
// policy, and the ways to show it: a terminal table and an HTML page of
// SVG charts (the same page the inspector draws for an uploaded report).
// It imports nothing of the emulator or the service, so anything that
// holds a Report can show it.
package report

// Report is one policy's simulated day(s): the figures over the whole
// center, per arrival stream, per task queue and per worker group, the day
// drawn in intervals, and the emulator's own statistics in TaskRouter's
// shape. Every figure is the mean over Runs replications.
type Report struct {
	Policy   string `json:"policy"`   // the policy file, as given
	Scenario string `json:"scenario"` // the scenario file, as given
	Seed     int64  `json:"seed"`
	Runs     int    `json:"runs"`
	// DurationS is the simulated day's length in seconds.
	DurationS float64 `json:"duration_s"`

	// Figures are the whole center's, inline at the top level.
	Figures
	// Streams, Queues: the same figures per arrival stream (by its name)
	// and per TaskQueue (by its friendly name).
	Streams map[string]Figures `json:"streams"`
	Queues  map[string]Figures `json:"queues"`
	// Groups is occupancy per worker group (the scenario's workers
	// entries, by name).
	Groups map[string]Group `json:"groups"`
	// Series draws the day in intervals (run 1's, so a chart shows a day
	// that happened rather than an average of days).
	Series Series `json:"series"`
	// CumulativeStatistics is run 1's day as the emulator's statistics API
	// answered it at the end: "workspace" is the Workspace
	// CumulativeStatistics resource, "task_queues" maps each queue's
	// friendly name to its TaskQueue CumulativeStatistics, fields as
	// Twilio names them, so a simulated day can be held against a real
	// workspace's statistics.
	CumulativeStatistics map[string]any `json:"cumulative_statistics"`
}

// Figures are the measures of one population of tasks (the center, a
// stream or a queue). Counts are means over runs, hence float64. A ratio
// (a service level, prob_wait, asa_s, a wait percentile, occupancy) is
// undefined in a run where its denominator is 0 — no task answered, say —
// and its mean and interval are over the runs that define it (a
// difference, over the pairs of runs that both do). One no run defines is
// absent from ServiceLevel, CI95, Diff and CI95Diff; its field here is 0,
// and the table shows "-" (the waits' and prob_wait for want of answered
// tasks).
type Figures struct {
	Offered   float64 `json:"offered"`   // tasks created
	Answered  float64 `json:"answered"`  // tasks whose reservation was accepted
	Abandoned float64 `json:"abandoned"` // tasks canceled when patience ran out
	// WaitingAtEnd counts tasks neither answered nor abandoned when the
	// day ended, still waiting.
	WaitingAtEnd float64 `json:"waiting_at_end"`
	// ProbWait is the share of answered tasks that waited more than 0 s
	// (Erlang C's probability of waiting).
	ProbWait float64 `json:"prob_wait"`
	// ASA is the average speed of answer over answered tasks, seconds.
	ASA     float64 `json:"asa_s"`
	WaitP50 float64 `json:"wait_p50_s"` // waits of answered tasks, seconds
	WaitP90 float64 `json:"wait_p90_s"`
	WaitP99 float64 `json:"wait_p99_s"`
	// ServiceLevel maps a threshold in seconds ("20") to the share of
	// tasks answered within it, of answered, abandoned and still-waiting
	// tasks past the threshold: every answered and every abandoned task,
	// and the tasks still waiting at day end that had waited longer than
	// the threshold (a miss whatever happens next; one that had waited
	// less is left out, its outcome unknown).
	ServiceLevel map[string]float64 `json:"service_level"`
	// Occupancy is the share of staffed time agents spent on these tasks
	// (handling and wrap-up). An agent is staffed from the shift's start
	// until leaving: at the shift's end or, when still on a task then,
	// once its work is done.
	Occupancy float64 `json:"occupancy"`
	// Rules counts the policy's decisions by the rule that fired;
	// Instructions by the instruction answered.
	Rules        map[string]float64 `json:"rules"`
	Instructions map[string]float64 `json:"instructions"`
	// ReservationsRejected and ReservationsTimedOut count reservations
	// that did not become an answered task.
	ReservationsRejected float64 `json:"reservations_rejected"`
	ReservationsTimedOut float64 `json:"reservations_timed_out"`
	// CI95 is the half-width of each figure's 95% confidence interval over
	// the runs (Student's t), keyed by the figure's JSON name; service
	// levels as "service_level.20". Absent with one run.
	CI95 map[string]float64 `json:"ci95,omitempty"`
	// Diff and CI95Diff, on every policy after the first: this policy's
	// figure minus the first policy's, and the half-width of the 95%
	// interval of that difference over paired runs (the same seed gives
	// both policies the same arrivals). Keyed as CI95.
	Diff     map[string]float64 `json:"diff,omitempty"`
	CI95Diff map[string]float64 `json:"ci95_diff,omitempty"`
}

// Group is one worker group's staffing and occupancy.
type Group struct {
	Workers   int     `json:"workers"`
	Occupancy float64 `json:"occupancy"` // busy share of the group's staffed time (as Figures.Occupancy)
	CI95      float64 `json:"ci95,omitempty"`
}

// Series is the day in intervals of IntervalS seconds: the i-th value of
// each slice is the interval starting at i*IntervalS. Waits are those of
// tasks answered in the interval.
type Series struct {
	IntervalS float64   `json:"interval_s"`
	Offered   []float64 `json:"offered"`
	Answered  []float64 `json:"answered"`
	Abandoned []float64 `json:"abandoned"`
	WaitP50   []float64 `json:"wait_p50_s"`
	WaitP90   []float64 `json:"wait_p90_s"`
	WaitP99   []float64 `json:"wait_p99_s"`
	Occupancy []float64 `json:"occupancy"`
}
