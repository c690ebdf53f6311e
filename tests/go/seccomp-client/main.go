// A Go client for mocket's --seccomp integration tests (tests/tests/seccomp.rs): standard
// library only, built offline. Go calls the kernel directly, so LD_PRELOAD never sees it.
//
//	get URL        GET the URL, print "<status> <body>"
//	lookup NAME    resolve NAME, print the addresses
//	dial HOST:PORT connect, print the peer address (getpeername), send "ping\n", print the reply line
package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

func fail(err error) {
	fmt.Println("error:", err)
	os.Exit(3)
}

func main() {
	http.DefaultClient.Timeout = 20 * time.Second
	switch os.Args[1] {
	case "get":
		resp, err := http.Get(os.Args[2])
		if err != nil {
			fail(err)
		}
		body, _ := io.ReadAll(resp.Body)
		fmt.Printf("%d %s\n", resp.StatusCode, body)
	case "lookup":
		addrs, err := net.DefaultResolver.LookupHost(context.Background(), os.Args[2])
		if err != nil {
			fail(err)
		}
		fmt.Println(addrs)
	case "dial":
		c, err := net.DialTimeout("tcp", os.Args[2], 10*time.Second)
		if err != nil {
			fail(err)
		}
		fmt.Println("peer", c.RemoteAddr())
		c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprint(c, "ping\n")
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			fail(err)
		}
		fmt.Printf("reply %q\n", line)
	}
}
