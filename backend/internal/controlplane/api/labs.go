package api

import "time"

// Labs (docs/openapi.yaml, tag labs): what instructors and learners see of a
// lab, its progress, hands and broadcasts.

// LabResources are the seat resources a lab asks for (0: the workshop's).
type LabResources struct {
	VCPUs    int `json:"vcpus,omitempty"`
	MemoryMB int `json:"memory_mb,omitempty"`
	DiskMB   int `json:"disk_mb,omitempty"`
}

// LabStep is a step as instructors and learners see it. Scripts stay
// on the server: learners see only whether a step has a check.
type LabStep struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	Markdown string `json:"markdown"`
	HasCheck bool   `json:"has_check"`
	HasSolve bool   `json:"has_solve"`
}

type Lab struct {
	ID              string       `json:"id"`
	Version         int          `json:"version"`
	Title           string       `json:"title"`
	Description     string       `json:"description"`
	DurationMinutes int          `json:"duration_minutes,omitempty"`
	Order           string       `json:"order"`
	Environment     string       `json:"environment,omitempty"`
	LearnerRoot     bool         `json:"learner_root,omitempty"`
	Resources       LabResources `json:"resources"`
	Steps           []LabStep    `json:"steps"`
	Files           int          `json:"files"`
	CreatedAt       time.Time    `json:"created_at"`
	Warnings        []string     `json:"warnings,omitempty"`
}

type LabSummary struct {
	ID        string    `json:"id"`
	Version   int       `json:"version"`
	Title     string    `json:"title"`
	CreatedAt time.Time `json:"created_at"`
}

type LabProblem struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

type StepProgress struct {
	StepID    string     `json:"step_id"`
	Status    string     `json:"status"`
	Attempts  int        `json:"attempts"`
	Message   string     `json:"message,omitempty"`
	EnteredAt time.Time  `json:"entered_at"`
	CheckedAt *time.Time `json:"checked_at,omitempty"`
	DoneAt    *time.Time `json:"done_at,omitempty"`
}

type Hand struct {
	ID             string     `json:"id"`
	RegistrationID string     `json:"registration_id"`
	LearnerName    string     `json:"learner_name,omitempty"`
	Seat           int        `json:"seat,omitempty"`
	Question       string     `json:"question"`
	RaisedAt       time.Time  `json:"raised_at"`
	PickedBy       string     `json:"picked_by,omitempty"`
	PickedAt       *time.Time `json:"picked_at,omitempty"`
}

type Broadcast struct {
	Message string    `json:"message"`
	At      time.Time `json:"at"`
}

type LearnerProgress struct {
	RegistrationID string                  `json:"registration_id"`
	Name           string                  `json:"name"`
	Email          string                  `json:"email"`
	Seat           int                     `json:"seat,omitempty"`
	JoinedAt       time.Time               `json:"joined_at"`
	CurrentStep    string                  `json:"current_step,omitempty"`
	StepsDone      int                     `json:"steps_done"`
	FailedChecks   int                     `json:"failed_checks"`
	OnStepSeconds  int64                   `json:"on_step_seconds"`
	HandRaised     bool                    `json:"hand_raised"`
	Steps          map[string]StepProgress `json:"steps"`
	// Setup is the learner's setup of the lab version (absent when the lab
	// has nothing to set up or it has not started for them).
	Setup *LabSetup `json:"setup,omitempty"`
}

type ProgressMatrix struct {
	Lab      Lab               `json:"lab"`
	Learners []LearnerProgress `json:"learners"`
	At       time.Time         `json:"at"`
}

type CheckResult struct {
	Passed   bool         `json:"passed"`
	Message  string       `json:"message"`
	TimedOut bool         `json:"timed_out,omitempty"`
	Progress StepProgress `json:"progress"`
}

type LearnerLab struct {
	Lab         Lab                     `json:"lab"`
	Progress    map[string]StepProgress `json:"progress"`
	CurrentStep string                  `json:"current_step"`
	// Unlocked are the steps the learner may open: all of them when the
	// lab's order is free, else up to the first step not done.
	Unlocked  []string   `json:"unlocked"`
	Broadcast *Broadcast `json:"broadcast,omitempty"`
	Hand      *Hand      `json:"hand,omitempty"`
	// WatchedBy and Typing are as in LearnerLive.
	WatchedBy string `json:"watched_by,omitempty"`
	Typing    bool   `json:"typing,omitempty"`
}

// Watcher is an instructor with the learner's terminal open.
type Watcher struct {
	Name string `json:"name"`
	// Typing: the instructor's terminal is read-write (taken over); else
	// they only watch.
	Typing bool      `json:"typing"`
	Since  time.Time `json:"since"`
}

// LearnerLive is what a learner's page polls: the guide's version (and the
// guide itself when the page has another version), the lab version, the
// broadcast, and who is watching the learner's terminal.
type LearnerLive struct {
	WorkshopName string `json:"workshop_name"`
	// GuideVersion identifies the plain lab guide's text ("" when there
	// is none); Guide is that text, left out when the request's
	// guide_version is already this one.
	GuideVersion string     `json:"guide_version"`
	Guide        *string    `json:"guide,omitempty"`
	LabID        string     `json:"lab_id,omitempty"`
	LabVersion   int        `json:"lab_version,omitempty"`
	EndsAt       *time.Time `json:"ends_at,omitempty"`
	Broadcast    *Broadcast `json:"broadcast,omitempty"`
	Watchers     []Watcher  `json:"watchers"`
	// WatchedBy names the instructors watching ("Ada, Grace"); Typing is
	// true when one of them may type.
	WatchedBy string `json:"watched_by,omitempty"`
	Typing    bool   `json:"typing"`
	// Setup is the lab's setup for this learner (its files/ folder and
	// setup script), absent when the lab has neither.
	Setup *LabSetup `json:"setup,omitempty"`
}

// LabSetup is where a lab's setup stands for one learner: "running",
// "done", or "failed" with the reason in Message.
type LabSetup struct {
	Status     string     `json:"status"`
	Message    string     `json:"message"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// ClassLab is the lab part of the stream: the progress matrix without the
// figures that move with the clock (the class view counts time on a step
// from entered_at), so an unchanged class sends nothing, and the open hands.
type ClassLab struct {
	Lab      Lab               `json:"lab"`
	Learners []LearnerProgress `json:"learners"`
	Hands    []Hand            `json:"hands"`
}

// SeatPush is what a push of files did in one learner's seat.
type SeatPush struct {
	Seat           int    `json:"seat"`
	RegistrationID string `json:"registration_id"`
	LearnerName    string `json:"learner_name"`
	OK             bool   `json:"ok"`
	Error          string `json:"error,omitempty"`
}

// PushResult is the answer of POST /api/workshops/{id}/files.
type PushResult struct {
	Path    string     `json:"path"`
	Bytes   int        `json:"bytes"`
	Written int        `json:"written"`
	Failed  int        `json:"failed"`
	Seats   []SeatPush `json:"seats"`
}
