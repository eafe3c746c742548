package postgres

// AssignSQL is AssignSeat's statement, for the plan test.
const AssignSQL = assignSQL
