// A Go client for mocket's --seccomp integration tests (tests/tests/seccomp.rs): standard
// library only, built offline. Go calls the kernel directly, so LD_PRELOAD never sees it.
//
//	get URL        GET the URL, print "<status> <body>"
//	lookup NAME    resolve NAME, print the addresses
//	dial HOST:PORT connect, print the peer address (getpeername), send "ping\n", print the reply line
//	udp HOST:PORT  send one datagram from an unconnected socket (sendto with a destination)
//	redis HOST:PORT  SET greeting hello, GET greeting over RESP (no Redis library builds offline),
//	               print the replies
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
	case "udp":
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			fail(err)
		}
		addr, err := net.ResolveUDPAddr("udp4", os.Args[2])
		if err != nil {
			fail(err)
		}
		if _, err := c.WriteTo([]byte("datagram"), addr); err != nil {
			fail(err)
		}
		fmt.Println("sent")
	case "redis":
		c, err := net.DialTimeout("tcp", os.Args[2], 10*time.Second)
		if err != nil {
			fail(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(c)
		fmt.Fprint(c, "*3\r\n$3\r\nSET\r\n$8\r\ngreeting\r\n$5\r\nhello\r\n")
		fmt.Fprint(c, "*2\r\n$3\r\nGET\r\n$8\r\ngreeting\r\n")
		for i := 0; i < 3; i++ { // +OK, then $5 and the value
			line, err := r.ReadString('\n')
			if err != nil {
				fail(err)
			}
			fmt.Printf("redis %q\n", line)
		}
	}
}
