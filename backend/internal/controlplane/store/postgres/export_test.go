package postgres

// AssignSQL is AssignSeat's statement and AssignByCodeSQL JoinByCode's,
// for the plan test.
var (
	AssignSQL       = hotDurable.seat
	AssignByCodeSQL = hotDurable.seatByCode
)
