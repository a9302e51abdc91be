package protocol

// User is a numeric identity for the program. The builder resolves a
// user name against the image's /etc/passwd and /etc/group, so the guest
// needs no user database and smol-init only sets ids.
type User struct {
	UID    uint32   `json:"uid"`
	GID    uint32   `json:"gid"`
	Groups []uint32 `json:"groups,omitempty"` // supplementary groups
}
