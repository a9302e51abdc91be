package internal
import (_ "golang.org/x/sys/unix"; _ "github.com/pierrec/lz4/v4"; _ "github.com/spf13/cobra"; _ "github.com/u-root/u-root/pkg/cpio"; _ "golang.org/x/term")
