use super::*;

/// Feeds `pieces` one after the other, collecting everything the parser yields.
fn parse_pieces(pieces: &[&[u8]]) -> Result<Vec<Parsed>, ParseError> {
    let mut p = RequestParser::new();
    let mut out = Vec::new();
    for piece in pieces {
        p.feed(piece);
        while let Some(parsed) = p.poll()? {
            out.push(parsed);
        }
    }
    Ok(out)
}

fn requests(parsed: Vec<Parsed>) -> Vec<Request> {
    parsed
        .into_iter()
        .filter_map(|p| match p {
            Parsed::Request(r) => Some(r),
            Parsed::Continue => None,
        })
        .collect()
}

fn one(wire: &[u8]) -> Request {
    let mut all = requests(parse_pieces(&[wire]).unwrap());
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

fn error(wire: &[u8]) -> String {
    parse_pieces(&[wire]).unwrap_err().message
}

/// A GET, a POST by length, a chunked POST with an extension and a trailer, a HEAD and an
/// HTTP/1.0 request, back to back as a pipelining client sends them.
const PIPELINE: &[u8] = b"GET /a?x=1 HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n\
POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello\
POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-Sum: 1\r\n\r\n\
HEAD /d HTTP/1.1\r\nHost: h\r\n\r\n\
GET /e HTTP/1.0\r\n\r\n";

fn check_pipeline(got: &[Request]) {
    let summary: Vec<(&str, &str, &[u8])> = got
        .iter()
        .map(|r| (r.method.as_str(), r.target.as_str(), r.body.as_slice()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("GET", "/a?x=1", &b""[..]),
            ("POST", "/b", b"hello"),
            ("POST", "/c", b"abc0123456789"),
            ("HEAD", "/d", b""),
            ("GET", "/e", b""),
        ]
    );
    assert_eq!(got[4].version, 0);
    assert!(got[3].is_head());
}

#[test]
fn pipelined_requests_come_out_in_order() {
    check_pipeline(&requests(parse_pieces(&[PIPELINE]).unwrap()));
}

#[test]
fn pipeline_split_at_every_boundary() {
    for cut in 0..=PIPELINE.len() {
        let got = parse_pieces(&[&PIPELINE[..cut], &PIPELINE[cut..]]).unwrap();
        check_pipeline(&requests(got));
    }
}

#[test]
fn pipeline_split_at_every_pair_of_boundaries() {
    // Every pair of cuts of the chunked request alone, the part with the most states.
    let start = PIPELINE.windows(7).position(|w| w == b"POST /c").unwrap();
    let end = PIPELINE.windows(5).position(|w| w == b"HEAD ").unwrap();
    let wire = &PIPELINE[start..end];
    for a in 0..=wire.len() {
        for b in a..=wire.len() {
            let got = requests(parse_pieces(&[&wire[..a], &wire[a..b], &wire[b..]]).unwrap());
            assert_eq!(got.len(), 1, "cuts {a} {b}");
            assert_eq!(got[0].body, b"abc0123456789", "cuts {a} {b}");
        }
    }
}

#[test]
fn one_byte_at_a_time() {
    let bytes: Vec<&[u8]> = PIPELINE.chunks(1).collect();
    check_pipeline(&requests(parse_pieces(&bytes).unwrap()));
}

#[test]
fn one_header_line_per_write_then_the_body() {
    let pieces: [&[u8]; 5] = [
        b"POST /x HTTP/1.1\r\n",
        b"Host: h\r\n",
        b"Content-Length: 3\r\n",
        b"\r\n",
        b"abc",
    ];
    let mut p = RequestParser::new();
    for piece in &pieces[..4] {
        p.feed(piece);
        assert_eq!(p.poll().unwrap(), None);
    }
    assert!(p.is_mid_request());
    p.feed(pieces[4]);
    let Some(Parsed::Request(r)) = p.poll().unwrap() else {
        panic!()
    };
    assert_eq!(r.body, b"abc");
    assert!(!p.is_mid_request());
    assert_eq!(p.poll().unwrap(), None);
}

#[test]
fn headers_are_lower_case_and_trimmed() {
    let r =
        one(b"GET / HTTP/1.1\r\nX-Thing:  a b \r\nx-thing: c\r\nAuthorization: Bearer t\r\n\r\n");
    assert_eq!(r.header("authorization"), Some("Bearer t"));
    assert_eq!(r.headers_named("x-thing").collect::<Vec<_>>(), ["a b", "c"]);
    assert_eq!(r.header("missing"), None);
}

#[test]
fn bare_newlines_and_blank_lines_between_requests() {
    let got = requests(
        parse_pieces(&[b"\r\n\r\nGET /a HTTP/1.1\n\n\r\nGET /b HTTP/1.1\r\n\r\n"]).unwrap(),
    );
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].target, "/b");
}

#[test]
fn targets_give_path_and_query() {
    let r = one(b"GET /v1/users?id=2&x=a%20b HTTP/1.1\r\n\r\n");
    assert_eq!(r.path(), "/v1/users");
    assert_eq!(
        r.query(),
        vec![("id".into(), "2".into()), ("x".into(), "a b".into())]
    );
    assert_eq!(r.path_and_query(), "/v1/users?id=2&x=a%20b");
    let r = one(b"GET http://api.example.com/p?q=1 HTTP/1.1\r\n\r\n");
    assert_eq!(r.path(), "/p");
    assert_eq!(r.path_and_query(), "/p?q=1");
    assert_eq!(r.query(), vec![("q".into(), "1".into())]);
}

#[test]
fn keep_alive_by_version_and_connection_header() {
    assert!(one(b"GET / HTTP/1.1\r\n\r\n").keep_alive());
    assert!(!one(b"GET / HTTP/1.1\r\nConnection: Close\r\n\r\n").keep_alive());
    assert!(!one(b"GET / HTTP/1.0\r\n\r\n").keep_alive());
    assert!(one(b"GET / HTTP/1.0\r\nConnection: foo, Keep-Alive\r\n\r\n").keep_alive());
}

#[test]
fn expect_continue_is_signalled_before_the_body() {
    let head = b"PUT /u HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n";
    let mut p = RequestParser::new();
    p.feed(head);
    assert_eq!(p.poll().unwrap(), Some(Parsed::Continue));
    assert_eq!(p.poll().unwrap(), None);
    p.feed(b"data");
    assert!(matches!(p.poll().unwrap(), Some(Parsed::Request(r)) if r.body == b"data"));
}

#[test]
fn expect_continue_at_every_boundary() {
    let wire = b"POST /u HTTP/1.1\r\nexpect: 100-Continue\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
    let head_end = wire.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    for cut in 0..=wire.len() {
        let got = parse_pieces(&[&wire[..cut], &wire[cut..]]).unwrap();
        // Only a head that arrived alone is waiting; body bytes that came with the end of the
        // head show the client stopped waiting: no 100 then.
        let continues = got.iter().filter(|p| **p == Parsed::Continue).count();
        assert_eq!(continues, usize::from(cut == head_end), "cut {cut}");
        assert_eq!(got.first() == Some(&Parsed::Continue), cut == head_end);
        assert_eq!(requests(got)[0].body, b"ok");
    }
}

#[test]
fn no_continue_without_a_body_or_for_http_1_0() {
    let got = parse_pieces(&[b"GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n"]).unwrap();
    assert!(matches!(got.as_slice(), [Parsed::Request(_)]));
    let got =
        parse_pieces(&[b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n"])
            .unwrap();
    assert!(got.is_empty());
}

#[test]
fn a_large_body_in_many_reads() {
    let body: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let mut wire = format!(
        "POST /big HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    wire.extend_from_slice(&body);
    let pieces: Vec<&[u8]> = wire.chunks(65536).collect();
    let got = requests(parse_pieces(&pieces).unwrap());
    assert_eq!(got[0].body, body);
}

#[test]
fn malformed_heads_are_precise() {
    assert!(error(b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n").contains("invalid header name"));
    assert!(error(b"GET / HTTP/2.0\r\n\r\n").contains("invalid HTTP version"));
    assert!(error(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").contains("HTTP version"));
    assert!(error(b"\x16\x03\x01\x02\x00").contains("TLS handshake"));
    let garbage = error(b"\x00\x01\x02 hello\r\n\r\n");
    assert!(garbage.contains("malformed request head"), "{garbage}");
    assert!(
        garbage.contains(r#""\x00\x01\x02 hello\r\n\r\n""#),
        "{garbage}"
    );
    let mut many = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..200 {
        many.extend_from_slice(format!("x-{i}: 1\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    assert!(error(&many).contains("more than 128 headers"));
}

#[test]
fn garbage_is_rejected_before_any_blank_line() {
    // A client that is not speaking HTTP must not wait forever for a blank line.
    assert!(error(b"PING\r\n").contains("malformed"));
    assert!(error(b"GET / HTTP/9").contains("version"));
}

#[test]
fn oversized_heads_are_rejected() {
    let mut p = RequestParser::new();
    p.feed(b"GET / HTTP/1.1\r\nx: ");
    p.feed(&vec![b'a'; MAX_HEAD]);
    assert!(p.poll().unwrap_err().message.contains("larger than 64 KiB"));
}

/// Found by the `http_request` fuzz target: a head arriving whole is refused like one that
/// trickles in, whatever the size of the reads.
#[test]
fn heads_are_refused_whatever_the_reads() {
    // Garbage in one read of more than 2 KiB waited for a blank line; in small reads it did not.
    let mut garbage = b"GET / HTTP/1.1\r\nbad header: x\r\nx: ".to_vec();
    garbage.resize(EARLY_PARSE + 100, b'a');
    assert!(
        parse_pieces(&[&garbage])
            .unwrap_err()
            .message
            .contains("header name")
    );
    let small: Vec<&[u8]> = garbage.chunks(16).collect();
    assert!(
        parse_pieces(&small)
            .unwrap_err()
            .message
            .contains("header name")
    );
    // A head over the limit was accepted when its blank line came in the same read.
    let mut big = b"GET / HTTP/1.1\r\nx: ".to_vec();
    big.resize(MAX_HEAD + 1, b'a');
    big.extend_from_slice(b"\r\n\r\n");
    assert!(
        parse_pieces(&[&big])
            .unwrap_err()
            .message
            .contains("larger than 64 KiB")
    );
}

#[test]
fn framing_errors() {
    assert!(
        error(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
            .contains("conflicting")
    );
    assert_eq!(
        one(b"POST / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\nx").body,
        b"x"
    );
    assert!(error(b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n").contains("not a number"));
    assert!(error(b"POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n").contains("not a number"));
    assert!(
        error(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n")
            .contains("both")
    );
    assert!(
        error(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n")
            .contains("does not end with chunked")
    );
    assert_eq!(
        one(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n").body,
        b"z"
    );
}

#[test]
fn chunk_errors() {
    let head = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let with = |rest: &[u8]| {
        let mut w = head.clone();
        w.extend_from_slice(rest);
        error(&w)
    };
    assert!(with(b"zz\r\n").contains("invalid chunk size"));
    assert!(with(b"\r\n").contains("invalid chunk size"));
    assert!(with(b"1\r\nabc\r\n").contains("longer than its size"));
    assert!(with(b"11111111111111111\r\n").contains("invalid chunk size"));
    assert!(with(&vec![b'1'; 5000]).contains("invalid chunk size"));
}

#[test]
fn parse_error_displays_its_message() {
    let e = parse_pieces(&[b"\x16"]).unwrap_err();
    assert_eq!(e.to_string(), e.message);
}

/// Feeds `wire` in pieces of `step` bytes under `policy`; the first request or the error.
fn parse_with(wire: &[u8], step: usize, policy: BodyPolicy) -> Result<Request, ParseError> {
    let mut p = RequestParser::new();
    for piece in wire.chunks(step) {
        p.feed(piece);
        while let Some(parsed) = p.poll_with(&mut |_| policy)? {
            if let Parsed::Request(r) = parsed {
                return Ok(r);
            }
        }
    }
    panic!("no request in {wire:?}")
}

#[test]
fn bodies_nobody_needs_are_counted_not_held() {
    let mut wire = b"POST /up HTTP/1.1\r\nContent-Length: 100000\r\n\r\n".to_vec();
    wire.extend(std::iter::repeat_n(b'z', 100_000));
    let r = parse_with(&wire, 4096, BodyPolicy::first(10)).unwrap();
    assert_eq!(
        (r.body.as_slice(), r.body_len),
        (&b"zzzzzzzzzz"[..], 100_000)
    );
    let chunked = b"POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    let r = parse_with(chunked, 3, BodyPolicy::first(0)).unwrap();
    assert_eq!((r.body.len(), r.body_len), (0, 11));
    let whole = parse_with(chunked, 1, BodyPolicy::whole(11)).unwrap();
    assert_eq!(whole.body, b"hello world");
}

#[test]
fn bodies_over_the_limit_are_refused_with_413() {
    // Known from content-length: refused before any body byte, without a 100 Continue.
    let mut p = RequestParser::new();
    p.feed(b"POST /up HTTP/1.1\r\nContent-Length: 12\r\nExpect: 100-continue\r\n\r\n");
    let err = p.poll_with(&mut |_| BodyPolicy::whole(11)).unwrap_err();
    assert_eq!(err.status, 413);
    assert!(err.message.contains("MOCKET_MAX_BODY (11 bytes)"), "{err}");
    // Chunked: refused as soon as the count passes the limit.
    let chunked = b"POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n6\r\nworld!\r\n0\r\n\r\n";
    let err = parse_with(chunked, 5, BodyPolicy::whole(11)).unwrap_err();
    assert_eq!(err.status, 413);
    assert_eq!(parse_pieces(&[b"SSH-2.0\r\n\r\n"]).unwrap_err().status, 400);
}

#[test]
fn the_policy_sees_the_head() {
    let wire = b"POST /json HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
    let mut p = RequestParser::new();
    p.feed(wire);
    let mut seen = Vec::new();
    let parsed = p
        .poll_with(&mut |head| {
            seen.push((head.path().to_string(), head.body.len()));
            BodyPolicy::first(2)
        })
        .unwrap();
    assert_eq!(seen, [("/json".to_string(), 0)]);
    let Some(Parsed::Request(r)) = parsed else {
        panic!("{parsed:?}")
    };
    assert_eq!((r.body.as_slice(), r.body_len), (&b"he"[..], 5));
}
