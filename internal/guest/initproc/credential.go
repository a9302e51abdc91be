package initproc

import (
	"syscall"

	"github.com/smolvm/smolvm/internal/guest/protocol"
)

// credential is the identity the program is started with: nil (keep
// smol-init's, root) when u is nil. The child sets its supplementary
// groups to exactly u.Groups (none when empty, so root's groups never
// leak to an unprivileged program), then its gid, then its uid, between
// fork and exec; ids were resolved by the builder (see package userdb),
// so no user database is read here.
func credential(u *protocol.User) *syscall.Credential {
	if u == nil {
		return nil
	}
	return &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: append([]uint32(nil), u.Groups...)}
}
