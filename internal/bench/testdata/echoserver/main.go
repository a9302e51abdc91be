// Command echoserver is the "small static Go HTTP server" of the
// benchmark's image-size figure: it answers every request with the
// request body (or the path, for a GET). Built with CGO_ENABLED=0.
//
// With -once it serves one request to itself on loopback, prints the
// reply and exits, so a boot can show that the server works without
// any networking to the guest.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
)

func echo(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		fmt.Fprintln(w, r.URL.Path)
		return
	}
	io.Copy(w, io.LimitReader(r.Body, 1<<20))
}

func main() {
	addr := flag.String("addr", ":8080", "listen address")
	once := flag.Bool("once", false, "serve one request to itself on loopback, print the reply, exit")
	flag.Parse()
	http.HandleFunc("/", echo)
	if !*once {
		log.Fatal(http.ListenAndServe(*addr, nil))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go http.Serve(ln, nil)
	resp, err := http.Post("http://"+ln.Addr().String()+"/", "text/plain", strings.NewReader("echo from a smolvm guest\n"))
	if err != nil {
		log.Fatal(err)
	}
	io.Copy(os.Stdout, resp.Body)
}
