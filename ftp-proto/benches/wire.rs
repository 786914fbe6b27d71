//! Throughput of the wire layer: command parsing, reply encoding, reply parsing, framing.
//!
//! Run with `cargo bench -p ftp-proto --bench wire`. Criterion prints time per iteration and
//! throughput in elements per second; for command parsing one element is one command.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ftp_proto::{Command, LineFramer, Reply, ReplyCode, ReplyParser};

/// The typical commands the README figure is about.
const TYPICAL: [&[u8]; 3] = [b"RETR dir/file.txt", b"PASV", b"USER name"];

fn command_parsing(c: &mut Criterion) {
    let mut group = c.benchmark_group("command_parse");
    group.throughput(Throughput::Elements(TYPICAL.len() as u64));
    group.bench_function("typical_mix", |b| {
        b.iter(|| {
            for line in TYPICAL {
                let _ = black_box(Command::parse(black_box(line)));
            }
        });
    });
    group.finish();

    let mut group = c.benchmark_group("command_parse_single");
    group.throughput(Throughput::Elements(1));
    for (name, line) in [
        ("retr", &b"RETR dir/file.txt"[..]),
        ("pasv", b"PASV"),
        ("user", b"USER name"),
        ("port", b"PORT 127,0,0,1,195,80"),
        ("eprt_v6", b"EPRT |2|2001:db8::1|50000|"),
        ("list_opts", b"LIST -la /pub/some dir"),
        ("mfmt", b"MFMT 20240229120000 a.txt"),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| black_box(Command::parse(black_box(line))))
        });
    }
    group.finish();
}

fn framing(c: &mut Criterion) {
    let mut stream = Vec::new();
    for _ in 0..1000 {
        for line in TYPICAL {
            stream.extend_from_slice(line);
            stream.extend_from_slice(b"\r\n");
        }
    }
    let mut group = c.benchmark_group("frame_and_parse");
    group.throughput(Throughput::Elements(3000));
    group.bench_function("3000_typical_lines", |b| {
        b.iter(|| {
            let mut framer = LineFramer::new();
            let mut n = 0usize;
            for frame in framer.frames(black_box(&stream)) {
                if let ftp_proto::Frame::Line(line) = frame {
                    n += usize::from(Command::parse(&line).is_ok());
                }
            }
            black_box(n)
        });
    });
    group.finish();
}

fn replies(c: &mut Criterion) {
    let single = Reply::new(ReplyCode::CLOSING_DATA_CONNECTION, "Transfer complete");
    let feat = Reply::multiline(
        ReplyCode::SYSTEM_STATUS,
        [
            "Features:",
            " EPRT",
            " EPSV",
            " MDTM",
            " MLST type*;size*;modify*;",
            " PASV",
            " REST STREAM",
            " SIZE",
            " TVFS",
            " UTF8",
            "End",
        ],
    );
    let mut group = c.benchmark_group("reply_encode");
    group.throughput(Throughput::Elements(1));
    let mut buf = Vec::with_capacity(512);
    group.bench_function("single_line", |b| {
        b.iter(|| {
            buf.clear();
            black_box(&single).encode(&mut buf);
            black_box(buf.len())
        });
    });
    group.bench_function("feat_11_lines", |b| {
        b.iter(|| {
            buf.clear();
            black_box(&feat).encode(&mut buf);
            black_box(buf.len())
        });
    });
    group.finish();

    let single_wire = single.to_bytes();
    let feat_wire = feat.to_bytes();
    let mut group = c.benchmark_group("reply_parse");
    group.throughput(Throughput::Elements(1));
    group.bench_function("single_line", |b| {
        let mut parser = ReplyParser::new();
        b.iter(|| black_box(parser.push(black_box(&single_wire))));
    });
    group.bench_function("feat_11_lines", |b| {
        let mut parser = ReplyParser::new();
        b.iter(|| black_box(parser.push(black_box(&feat_wire))));
    });
    group.finish();
}

criterion_group!(benches, command_parsing, framing, replies);
criterion_main!(benches);
