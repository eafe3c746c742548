package server_test

// countingStore counts the calls to every store method (generated from the
// store.Store interface; a method added to the interface later passes
// through uncounted until this list is regenerated). Tests use it to show
// that a handler's round trips to the store do not grow with the class.

import (
	"context"
	"sync"
	"time"

	"github.com/clarateach/backend/internal/controlplane/store"
)

type countingStore struct {
	store.Store
	mu    sync.Mutex
	calls map[string]int
}

func newCountingStore(s store.Store) *countingStore {
	return &countingStore{Store: s, calls: map[string]int{}}
}

func (c *countingStore) count(name string) {
	c.mu.Lock()
	c.calls[name]++
	c.mu.Unlock()
}

// take returns the calls counted so far and starts again.
func (c *countingStore) take() (int, map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, out := 0, c.calls
	for _, v := range out {
		n += v
	}
	c.calls = map[string]int{}
	return n, out
}

func (c *countingStore) AddArchive(a0 context.Context, a1 *store.Archive) error {
	c.count("AddArchive")
	return c.Store.AddArchive(a0, a1)
}

func (c *countingStore) AddEvent(a0 context.Context, a1 *store.Event) error {
	c.count("AddEvent")
	return c.Store.AddEvent(a0, a1)
}

func (c *countingStore) AddFailure(a0 context.Context, a1 string, a2 time.Time, a3 time.Duration, a4 time.Duration) (time.Time, error) {
	c.count("AddFailure")
	return c.Store.AddFailure(a0, a1, a2, a3, a4)
}

func (c *countingStore) AddMember(a0 context.Context, a1 *store.Member) error {
	c.count("AddMember")
	return c.Store.AddMember(a0, a1)
}

func (c *countingStore) AddWatcher(a0 context.Context, a1 *store.Watcher) error {
	c.count("AddWatcher")
	return c.Store.AddWatcher(a0, a1)
}

func (c *countingStore) AssignSeat(a0 context.Context, a1 string) (*store.Seat, error) {
	c.count("AssignSeat")
	return c.Store.AssignSeat(a0, a1)
}

func (c *countingStore) ClaimLabSetup(a0 context.Context, a1 *store.LabSetup) (claimed bool, err error) {
	c.count("ClaimLabSetup")
	return c.Store.ClaimLabSetup(a0, a1)
}

func (c *countingStore) Close() error {
	c.count("Close")
	return c.Store.Close()
}

func (c *countingStore) CloseHand(a0 context.Context, a1 string, a2 string, a3 time.Time) error {
	c.count("CloseHand")
	return c.Store.CloseHand(a0, a1, a2, a3)
}

func (c *countingStore) ConfirmRevoke(a0 context.Context, a1 string, a2 int, a3 int64) error {
	c.count("ConfirmRevoke")
	return c.Store.ConfirmRevoke(a0, a1, a2, a3)
}

func (c *countingStore) CountUsers(a0 context.Context) (int, error) {
	c.count("CountUsers")
	return c.Store.CountUsers(a0)
}

func (c *countingStore) CreateAuthSession(a0 context.Context, a1 *store.AuthSession) error {
	c.count("CreateAuthSession")
	return c.Store.CreateAuthSession(a0, a1)
}

func (c *countingStore) CreateInvite(a0 context.Context, a1 *store.Invite) error {
	c.count("CreateInvite")
	return c.Store.CreateInvite(a0, a1)
}

func (c *countingStore) CreateUser(a0 context.Context, a1 *store.User) error {
	c.count("CreateUser")
	return c.Store.CreateUser(a0, a1)
}

func (c *countingStore) CreateUserWithInvite(a0 context.Context, a1 *store.User, a2 string, a3 time.Time) (*store.Invite, error) {
	c.count("CreateUserWithInvite")
	return c.Store.CreateUserWithInvite(a0, a1, a2, a3)
}

func (c *countingStore) CreateWorkshop(a0 context.Context, a1 *store.Workshop) error {
	c.count("CreateWorkshop")
	return c.Store.CreateWorkshop(a0, a1)
}

func (c *countingStore) CreateWorkshopWithin(a0 context.Context, a1 *store.Workshop, a2 func(store.Usage) error) error {
	c.count("CreateWorkshopWithin")
	return c.Store.CreateWorkshopWithin(a0, a1, a2)
}

func (c *countingStore) DeleteArchive(a0 context.Context, a1 string) error {
	c.count("DeleteArchive")
	return c.Store.DeleteArchive(a0, a1)
}

func (c *countingStore) DeleteAuthSession(a0 context.Context, a1 string) error {
	c.count("DeleteAuthSession")
	return c.Store.DeleteAuthSession(a0, a1)
}

func (c *countingStore) DeleteInvite(a0 context.Context, a1 string) error {
	c.count("DeleteInvite")
	return c.Store.DeleteInvite(a0, a1)
}

func (c *countingStore) DeleteLabSetup(a0 context.Context, a1 string, a2 string, a3 int) error {
	c.count("DeleteLabSetup")
	return c.Store.DeleteLabSetup(a0, a1, a2, a3)
}

func (c *countingStore) DeleteProgress(a0 context.Context, a1 string, a2 string) error {
	c.count("DeleteProgress")
	return c.Store.DeleteProgress(a0, a1, a2)
}

func (c *countingStore) DeleteQuota(a0 context.Context, a1 string) error {
	c.count("DeleteQuota")
	return c.Store.DeleteQuota(a0, a1)
}

func (c *countingStore) DeleteWorkshopVM(a0 context.Context, a1 string) error {
	c.count("DeleteWorkshopVM")
	return c.Store.DeleteWorkshopVM(a0, a1)
}

func (c *countingStore) Engine() string {
	c.count("Engine")
	return c.Store.Engine()
}

func (c *countingStore) FailRevoke(a0 context.Context, a1 string, a2 int, a3 int64, a4 string) error {
	c.count("FailRevoke")
	return c.Store.FailRevoke(a0, a1, a2, a3, a4)
}

func (c *countingStore) FailureClock(a0 context.Context, a1 string) (time.Time, error) {
	c.count("FailureClock")
	return c.Store.FailureClock(a0, a1)
}

func (c *countingStore) FinishLabSetup(a0 context.Context, a1 *store.LabSetup) error {
	c.count("FinishLabSetup")
	return c.Store.FinishLabSetup(a0, a1)
}

func (c *countingStore) GetAuthSession(a0 context.Context, a1 string) (*store.AuthSession, error) {
	c.count("GetAuthSession")
	return c.Store.GetAuthSession(a0, a1)
}

func (c *countingStore) GetBroadcast(a0 context.Context, a1 string) (*store.Broadcast, error) {
	c.count("GetBroadcast")
	return c.Store.GetBroadcast(a0, a1)
}

func (c *countingStore) GetLab(a0 context.Context, a1 string, a2 int) (*store.Lab, error) {
	c.count("GetLab")
	return c.Store.GetLab(a0, a1, a2)
}

func (c *countingStore) GetLearner(a0 context.Context, a1 string) (*store.Registration, *store.Workshop, error) {
	c.count("GetLearner")
	return c.Store.GetLearner(a0, a1)
}

func (c *countingStore) GetMember(a0 context.Context, a1 string, a2 string) (*store.Member, error) {
	c.count("GetMember")
	return c.Store.GetMember(a0, a1, a2)
}

func (c *countingStore) GetQuota(a0 context.Context, a1 string) (*store.Quota, error) {
	c.count("GetQuota")
	return c.Store.GetQuota(a0, a1)
}

func (c *countingStore) GetRegistration(a0 context.Context, a1 string) (*store.Registration, error) {
	c.count("GetRegistration")
	return c.Store.GetRegistration(a0, a1)
}

func (c *countingStore) GetRegistrationByAccessCode(a0 context.Context, a1 string) (*store.Registration, error) {
	c.count("GetRegistrationByAccessCode")
	return c.Store.GetRegistrationByAccessCode(a0, a1)
}

func (c *countingStore) GetSeat(a0 context.Context, a1 string, a2 int) (*store.Seat, error) {
	c.count("GetSeat")
	return c.Store.GetSeat(a0, a1, a2)
}

func (c *countingStore) GetUser(a0 context.Context, a1 string) (*store.User, error) {
	c.count("GetUser")
	return c.Store.GetUser(a0, a1)
}

func (c *countingStore) GetUserByEmail(a0 context.Context, a1 string) (*store.User, error) {
	c.count("GetUserByEmail")
	return c.Store.GetUserByEmail(a0, a1)
}

func (c *countingStore) GetWorkshop(a0 context.Context, a1 string) (*store.Workshop, error) {
	c.count("GetWorkshop")
	return c.Store.GetWorkshop(a0, a1)
}

func (c *countingStore) GetWorkshopByCode(a0 context.Context, a1 string) (*store.Workshop, error) {
	c.count("GetWorkshopByCode")
	return c.Store.GetWorkshopByCode(a0, a1)
}

func (c *countingStore) GetWorkshopLab(a0 context.Context, a1 string) (*store.WorkshopLab, error) {
	c.count("GetWorkshopLab")
	return c.Store.GetWorkshopLab(a0, a1)
}

func (c *countingStore) GetWorkshopVM(a0 context.Context, a1 string) (*store.WorkshopVM, error) {
	c.count("GetWorkshopVM")
	return c.Store.GetWorkshopVM(a0, a1)
}

func (c *countingStore) JoinByCode(a0 context.Context, a1 string, a2 time.Time) (*store.Registration, *store.Workshop, *store.SeatJoin, error) {
	c.count("JoinByCode")
	return c.Store.JoinByCode(a0, a1, a2)
}

func (c *countingStore) RegisterByCode(a0 context.Context, a1 string, a2 *store.Registration, a3 time.Time, a4 ...store.Event) (*store.Workshop, *store.Registration, bool, error) {
	c.count("RegisterByCode")
	return c.Store.RegisterByCode(a0, a1, a2, a3, a4...)
}

func (c *countingStore) JoinSeat(a0 context.Context, a1 string) (*store.SeatJoin, error) {
	c.count("JoinSeat")
	return c.Store.JoinSeat(a0, a1)
}

func (c *countingStore) LatestArchive(a0 context.Context, a1 string) (*store.Archive, error) {
	c.count("LatestArchive")
	return c.Store.LatestArchive(a0, a1)
}

func (c *countingStore) ListArchives(a0 context.Context, a1 store.ArchiveFilter) ([]store.Archive, error) {
	c.count("ListArchives")
	return c.Store.ListArchives(a0, a1)
}

func (c *countingStore) ListEvents(a0 context.Context, a1 string, a2 int64, a3 int) ([]store.Event, error) {
	c.count("ListEvents")
	return c.Store.ListEvents(a0, a1, a2, a3)
}

func (c *countingStore) ListHands(a0 context.Context, a1 string, a2 string) ([]store.Hand, error) {
	c.count("ListHands")
	return c.Store.ListHands(a0, a1, a2)
}

func (c *countingStore) ListInvites(a0 context.Context) ([]store.Invite, error) {
	c.count("ListInvites")
	return c.Store.ListInvites(a0)
}

func (c *countingStore) ListLabs(a0 context.Context, a1 string) ([]store.Lab, error) {
	c.count("ListLabs")
	return c.Store.ListLabs(a0, a1)
}

func (c *countingStore) ListMemberWorkshops(a0 context.Context, a1 string) ([]store.Workshop, error) {
	c.count("ListMemberWorkshops")
	return c.Store.ListMemberWorkshops(a0, a1)
}

func (c *countingStore) ListMembers(a0 context.Context, a1 string) ([]store.Member, error) {
	c.count("ListMembers")
	return c.Store.ListMembers(a0, a1)
}

func (c *countingStore) ListPendingRevokes(a0 context.Context, a1 string) ([]store.PendingRevoke, error) {
	c.count("ListPendingRevokes")
	return c.Store.ListPendingRevokes(a0, a1)
}

func (c *countingStore) ListProgress(a0 context.Context, a1 string, a2 string) ([]store.Progress, error) {
	c.count("ListProgress")
	return c.Store.ListProgress(a0, a1, a2)
}

func (c *countingStore) ListRegistrations(a0 context.Context, a1 string) ([]store.RegistrationView, error) {
	c.count("ListRegistrations")
	return c.Store.ListRegistrations(a0, a1)
}

func (c *countingStore) ListSeats(a0 context.Context, a1 string) ([]store.Seat, error) {
	c.count("ListSeats")
	return c.Store.ListSeats(a0, a1)
}

func (c *countingStore) ListUsers(a0 context.Context) ([]store.User, error) {
	c.count("ListUsers")
	return c.Store.ListUsers(a0)
}

func (c *countingStore) ListWatchers(a0 context.Context, a1 string, a2 int, a3 time.Time) ([]store.Watcher, error) {
	c.count("ListWatchers")
	return c.Store.ListWatchers(a0, a1, a2, a3)
}

func (c *countingStore) ListWorkshopVMs(a0 context.Context) ([]store.WorkshopVM, error) {
	c.count("ListWorkshopVMs")
	return c.Store.ListWorkshopVMs(a0)
}

func (c *countingStore) ListWorkshops(a0 context.Context, a1 store.WorkshopFilter) ([]store.Workshop, error) {
	c.count("ListWorkshops")
	return c.Store.ListWorkshops(a0, a1)
}

func (c *countingStore) MarkArchiveRestored(a0 context.Context, a1 string, a2 time.Time) error {
	c.count("MarkArchiveRestored")
	return c.Store.MarkArchiveRestored(a0, a1, a2)
}

func (c *countingStore) OwnerUsage(a0 context.Context, a1 string) (store.Usage, error) {
	c.count("OwnerUsage")
	return c.Store.OwnerUsage(a0, a1)
}

func (c *countingStore) PickHand(a0 context.Context, a1 string, a2 string, a3 string, a4 time.Time) (*store.Hand, error) {
	c.count("PickHand")
	return c.Store.PickHand(a0, a1, a2, a3, a4)
}

func (c *countingStore) Ping(a0 context.Context) error {
	c.count("Ping")
	return c.Store.Ping(a0)
}

func (c *countingStore) PruneFailures(a0 context.Context, a1 time.Time) (int64, error) {
	c.count("PruneFailures")
	return c.Store.PruneFailures(a0, a1)
}

func (c *countingStore) PurgeWorkshop(a0 context.Context, a1 string) error {
	c.count("PurgeWorkshop")
	return c.Store.PurgeWorkshop(a0, a1)
}

func (c *countingStore) RaiseHand(a0 context.Context, a1 *store.Hand) (*store.Hand, error) {
	c.count("RaiseHand")
	return c.Store.RaiseHand(a0, a1)
}

func (c *countingStore) Register(a0 context.Context, a1 *store.Registration, a2 ...store.Event) (reg *store.Registration, created bool, err error) {
	c.count("Register")
	return c.Store.Register(a0, a1, a2...)
}

func (c *countingStore) ReissueAccessCode(a0 context.Context, a1 string, a2 string, a3 string) (*store.Registration, *store.PendingRevoke, error) {
	c.count("ReissueAccessCode")
	return c.Store.ReissueAccessCode(a0, a1, a2, a3)
}

func (c *countingStore) ReleaseLease(a0 context.Context, a1 string, a2 string) error {
	c.count("ReleaseLease")
	return c.Store.ReleaseLease(a0, a1, a2)
}

func (c *countingStore) RemoveMember(a0 context.Context, a1 string, a2 string) error {
	c.count("RemoveMember")
	return c.Store.RemoveMember(a0, a1, a2)
}

func (c *countingStore) RemoveWatcher(a0 context.Context, a1 string) error {
	c.count("RemoveWatcher")
	return c.Store.RemoveWatcher(a0, a1)
}

func (c *countingStore) ResetFailures(a0 context.Context, a1 string) error {
	c.count("ResetFailures")
	return c.Store.ResetFailures(a0, a1)
}

func (c *countingStore) RevokeRegistration(a0 context.Context, a1 string, a2 string) (*store.PendingRevoke, error) {
	c.count("RevokeRegistration")
	return c.Store.RevokeRegistration(a0, a1, a2)
}

func (c *countingStore) SaveLab(a0 context.Context, a1 *store.Lab) error {
	c.count("SaveLab")
	return c.Store.SaveLab(a0, a1)
}

func (c *countingStore) SaveProgress(a0 context.Context, a1 *store.Progress) error {
	c.count("SaveProgress")
	return c.Store.SaveProgress(a0, a1)
}

func (c *countingStore) SeatsUsed(a0 context.Context, a1 string) (int, error) {
	c.count("SeatsUsed")
	return c.Store.SeatsUsed(a0, a1)
}

func (c *countingStore) SetBroadcast(a0 context.Context, a1 *store.Broadcast) error {
	c.count("SetBroadcast")
	return c.Store.SetBroadcast(a0, a1)
}

func (c *countingStore) SetQuota(a0 context.Context, a1 string, a2 store.Quota) error {
	c.count("SetQuota")
	return c.Store.SetQuota(a0, a1, a2)
}

func (c *countingStore) SetWorkshopLab(a0 context.Context, a1 string, a2 string, a3 int) error {
	c.count("SetWorkshopLab")
	return c.Store.SetWorkshopLab(a0, a1, a2, a3)
}

func (c *countingStore) TokenGeneration(a0 context.Context, a1 string) (int64, error) {
	c.count("TokenGeneration")
	return c.Store.TokenGeneration(a0, a1)
}

func (c *countingStore) TouchSeat(a0 context.Context, a1 string, a2 int, a3 string, a4 time.Time) error {
	c.count("TouchSeat")
	return c.Store.TouchSeat(a0, a1, a2, a3, a4)
}

func (c *countingStore) TouchWatcher(a0 context.Context, a1 string, a2 time.Time) error {
	c.count("TouchWatcher")
	return c.Store.TouchWatcher(a0, a1, a2)
}

func (c *countingStore) Transition(a0 context.Context, a1 string, a2 store.Transition) (*store.Workshop, error) {
	c.count("Transition")
	return c.Store.Transition(a0, a1, a2)
}

func (c *countingStore) TryLease(a0 context.Context, a1 string, a2 string, a3 time.Duration) (bool, error) {
	c.count("TryLease")
	return c.Store.TryLease(a0, a1, a2, a3)
}

func (c *countingStore) UpdateWorkshop(a0 context.Context, a1 string, a2 func(*store.Workshop) error) (*store.Workshop, error) {
	c.count("UpdateWorkshop")
	return c.Store.UpdateWorkshop(a0, a1, a2)
}

func (c *countingStore) UpdateWorkshopWithin(a0 context.Context, a1 string, a2 func(w *store.Workshop, others store.Usage) error) (*store.Workshop, error) {
	c.count("UpdateWorkshopWithin")
	return c.Store.UpdateWorkshopWithin(a0, a1, a2)
}

func (c *countingStore) UpsertWorkshopVM(a0 context.Context, a1 *store.WorkshopVM) error {
	c.count("UpsertWorkshopVM")
	return c.Store.UpsertWorkshopVM(a0, a1)
}

func (c *countingStore) ListWorkshopHosts(a0 context.Context, a1 string) ([]store.WorkshopVM, error) {
	c.count("ListWorkshopHosts")
	return c.Store.ListWorkshopHosts(a0, a1)
}

func (c *countingStore) DeleteWorkshopHost(a0 context.Context, a1 string, a2 int) error {
	c.count("DeleteWorkshopHost")
	return c.Store.DeleteWorkshopHost(a0, a1, a2)
}
