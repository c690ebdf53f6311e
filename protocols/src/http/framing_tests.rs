use super::*;

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// Feeds `wire` in pieces of `step` bytes, keeping unconsumed bytes as a caller would;
/// returns the body, whether it completed, and the bytes left after the message.
fn decode_in_steps(
    framing: Framing,
    wire: &[u8],
    step: usize,
) -> Result<(Vec<u8>, bool, Vec<u8>), FramingError> {
    let mut decoder = BodyDecoder::new(framing);
    let mut body = Vec::new();
    let mut pending = Vec::new();
    for piece in wire.chunks(step) {
        pending.extend_from_slice(piece);
        if decoder.is_done() {
            continue;
        }
        let used = decoder.decode(&pending, &mut |b| body.extend_from_slice(b))?;
        pending.drain(..used);
    }
    Ok((body, decoder.is_done(), pending))
}

#[test]
fn content_length_bodies_stop_at_their_length() {
    for step in [1, 3, 100] {
        let (body, done, rest) = decode_in_steps(Framing::Length(5), b"helloGET /", step).unwrap();
        assert_eq!((body.as_slice(), done), (&b"hello"[..], true));
        assert_eq!(rest, b"GET /");
    }
    assert!(BodyDecoder::new(Framing::Length(0)).is_done());
}

#[test]
fn chunked_bodies_are_decoded_with_extensions_and_trailers() {
    let wire = b"3\r\nabc\r\n2;x=1\r\nde\r\n0\r\nT: 1\r\n\r\nnext";
    for step in [1, 2, 7, 1000] {
        let (body, done, rest) = decode_in_steps(Framing::Chunked, wire, step).unwrap();
        assert_eq!(body, b"abcde");
        assert!(done);
        assert_eq!(rest, b"next");
    }
}

#[test]
fn close_delimited_bodies_end_at_eof() {
    let mut decoder = BodyDecoder::new(Framing::UntilClose);
    let mut body = Vec::new();
    decoder
        .decode(b"hello ", &mut |b| body.extend_from_slice(b))
        .unwrap();
    assert!(!decoder.is_done());
    decoder.at_eof().unwrap();
    assert!(decoder.is_done());
    let mut cut = BodyDecoder::new(Framing::Length(9));
    cut.decode(b"abc", &mut |_| {}).unwrap();
    assert!(
        cut.at_eof()
            .unwrap_err()
            .message
            .contains("middle of the body")
    );
}

#[test]
fn chunk_size_lines_and_trailers_are_capped() {
    let long_line = vec![b'1'; MAX_CHUNK_LINE + 1];
    let err = decode_in_steps(Framing::Chunked, &long_line, 512).unwrap_err();
    assert!(err.message.contains("chunk size line"), "{err}");
    let mut endless_trailer = b"0\r\n".to_vec();
    endless_trailer.extend(std::iter::repeat_n(b'x', MAX_TRAILERS + 1));
    let err = decode_in_steps(Framing::Chunked, &endless_trailer, 4096).unwrap_err();
    assert!(err.message.contains("trailer"), "{err}");
    let mut many_lines = b"0\r\n".to_vec();
    for _ in 0..(MAX_TRAILERS / 6 + 1) {
        many_lines.extend_from_slice(b"a: b\r\n");
    }
    assert!(decode_in_steps(Framing::Chunked, &many_lines, 4096).is_err());
    let err = decode_in_steps(Framing::Chunked, b"3\r\nabcd\r\n", 100).unwrap_err();
    assert!(err.message.contains("longer than its size"), "{err}");
    assert!(decode_in_steps(Framing::Chunked, b"zz\r\n", 100).is_err());
}

#[test]
fn request_framing_refuses_ambiguity() {
    assert_eq!(request_framing(&[]).unwrap(), Framing::Length(0));
    let te = headers(&[("transfer-encoding", "gzip, chunked")]);
    assert_eq!(request_framing(&te).unwrap(), Framing::Chunked);
    let both = headers(&[("transfer-encoding", "chunked"), ("content-length", "3")]);
    assert!(request_framing(&both).is_err());
    let conflict = headers(&[("content-length", "3"), ("content-length", "4")]);
    assert!(
        request_framing(&conflict)
            .unwrap_err()
            .message
            .contains("conflicting")
    );
    let bad = headers(&[("content-length", "+3")]);
    assert!(request_framing(&bad).is_err());
    let open_ended = headers(&[("transfer-encoding", "gzip")]);
    assert!(request_framing(&open_ended).is_err());
}

#[test]
fn response_framing_follows_status_method_and_headers() {
    let cl = headers(&[("content-length", "3")]);
    assert_eq!(
        response_framing(200, false, &cl).unwrap(),
        Framing::Length(3)
    );
    assert_eq!(
        response_framing(200, true, &cl).unwrap(),
        Framing::Length(0)
    );
    assert_eq!(
        response_framing(304, false, &cl).unwrap(),
        Framing::Length(0)
    );
    assert_eq!(
        response_framing(200, false, &[]).unwrap(),
        Framing::UntilClose
    );
    let te = headers(&[("transfer-encoding", "chunked"), ("content-length", "3")]);
    assert_eq!(response_framing(200, false, &te).unwrap(), Framing::Chunked);
    let gzip = headers(&[("transfer-encoding", "gzip")]);
    assert_eq!(
        response_framing(200, false, &gzip).unwrap(),
        Framing::UntilClose
    );
}
