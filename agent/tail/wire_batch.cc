#include "agent/tail/wire_batch.h"

#include <bit>
#include <cstring>

namespace mailfleet::agent {
namespace {

// Protobuf's wire types and tags (https://protobuf.dev/programming-guides/encoding/).
enum WireType : uint32_t { kVarint = 0, kLengthDelimited = 2, kFixed32 = 5 };
constexpr uint64_t Tag(uint32_t field, WireType type) { return field << 3 | type; }

size_t VarintSize(uint64_t v) { return (static_cast<size_t>(std::bit_width(v | 1)) + 6) / 7; }

// Counts the bytes a Writer would write.
struct Sizer {
  size_t size = 0;
  void Varint(uint64_t v) { size += VarintSize(v); }
  void Fixed32(uint32_t) { size += 4; }
  void Raw(const char*, size_t n) { size += n; }
};

struct Writer {
  char* p;
  void Varint(uint64_t v) {
    while (v >= 0x80) {
      *p++ = static_cast<char>(v | 0x80);
      v >>= 7;
    }
    *p++ = static_cast<char>(v);
  }
  void Fixed32(uint32_t v) {  // little-endian
    for (int i = 0; i < 4; ++i) *p++ = static_cast<char>(v >> (8 * i));
  }
  void Raw(const char* data, size_t n) {
    std::memcpy(p, data, n);
    p += n;
  }
};

// The spans EventToProto sends: up to the last one present.
size_t SpanCount(const parse::LogEvent& e) {
  size_t count = parse::kSpanFieldCount;
  while (count > 0 && (e.*parse::kSpanFields[count - 1].member).empty()) --count;
  return count;
}

size_t SpansSize(const parse::LogEvent& e, size_t count) {
  size_t size = 0;
  for (size_t i = 0; i < count; ++i) {
    const parse::Span& span = e.*parse::kSpanFields[i].member;
    size += VarintSize(span.pos) + VarintSize(span.len);
  }
  return size;
}

// The fields of mailfleet.v1.LogEvent in field number order, as proto3 writes them: a number
// only when it is not 0 (a float: when its bits are not all 0), text only when not empty,
// packed lists, int32 values sign-extended to 64 bits.
template <typename Out>
void EncodeEvent(const parse::LogEvent& e, uint64_t end_offset, size_t span_count,
                 size_t spans_size, Out& out) {
  using E = mailfleet::v1::LogEvent;
  auto number = [&](uint32_t field, uint64_t v) {
    if (v == 0) return;
    out.Varint(Tag(field, kVarint));
    out.Varint(v);
  };
  auto int32 = [&](uint32_t field, int32_t v) {
    number(field, static_cast<uint64_t>(static_cast<int64_t>(v)));
  };
  number(E::kEndOffsetFieldNumber, end_offset);
  if (!e.raw.empty()) {
    out.Varint(Tag(E::kRawFieldNumber, kLengthDelimited));
    out.Varint(e.raw.size());
    out.Raw(e.raw.data(), e.raw.size());
  }
  number(E::kTimeUsFieldNumber, static_cast<uint64_t>(e.time_us));
  number(E::kKindFieldNumber, static_cast<uint32_t>(e.kind));
  number(E::kSeverityFieldNumber, static_cast<uint32_t>(e.severity));
  int32(E::kPidFieldNumber, e.pid);
  number(E::kClientPortFieldNumber, e.client_port);
  number(E::kRelayPortFieldNumber, e.relay_port);
  if (uint32_t bits = std::bit_cast<uint32_t>(e.delay); bits != 0) {
    out.Varint(Tag(E::kDelayFieldNumber, kFixed32));
    out.Fixed32(bits);
  }
  if (e.delays[0] >= 0) {
    out.Varint(Tag(E::kDelaysFieldNumber, kLengthDelimited));
    out.Varint(4 * sizeof(float));
    for (float d : e.delays) out.Fixed32(std::bit_cast<uint32_t>(d));
  }
  number(E::kSizeFieldNumber, static_cast<uint64_t>(e.size));
  int32(E::kNrcptFieldNumber, e.nrcpt);
  number(E::kTruncatedFieldNumber, e.truncated);
  number(E::kInvalidUtf8FieldNumber, e.invalid_utf8);
  if (span_count > 0) {
    out.Varint(Tag(E::kSpansFieldNumber, kLengthDelimited));
    out.Varint(spans_size);
    for (size_t i = 0; i < span_count; ++i) {
      const parse::Span& span = e.*parse::kSpanFields[i].member;
      out.Varint(span.pos);
      out.Varint(span.len);
    }
  }
}

void AppendVarint(uint64_t v, std::string* out) {
  char buffer[10];
  Writer w{buffer};
  w.Varint(v);
  out->append(buffer, static_cast<size_t>(w.p - buffer));
}

void AppendText(uint32_t field, const std::string& text, std::string* out) {
  if (text.empty()) return;
  AppendVarint(Tag(field, kLengthDelimited), out);
  AppendVarint(text.size(), out);
  out->append(text);
}

void AppendNumber(uint32_t field, uint64_t v, std::string* out) {
  if (v == 0) return;
  AppendVarint(Tag(field, kVarint), out);
  AppendVarint(v, out);
}

}  // namespace

void EventToProto(const parse::LogEvent& e, uint64_t end_offset, mailfleet::v1::LogEvent* out) {
  out->set_end_offset(end_offset);
  out->set_raw(e.raw);
  out->set_time_us(e.time_us);
  out->set_kind(static_cast<uint32_t>(e.kind));
  out->set_severity(static_cast<uint32_t>(e.severity));
  out->set_pid(e.pid);
  out->set_client_port(e.client_port);
  out->set_relay_port(e.relay_port);
  out->set_delay(e.delay);
  if (e.delays[0] >= 0) {
    for (float d : e.delays) out->add_delays(d);
  }
  out->set_size(e.size);
  out->set_nrcpt(e.nrcpt);
  out->set_truncated(e.truncated);
  out->set_invalid_utf8(e.invalid_utf8);
  // Up to the last field the line has: most lines fill only the first few. The collector
  // reads a field past the list's end as absent.
  const size_t count = SpanCount(e);
  auto* spans = out->mutable_spans();
  spans->Reserve(static_cast<int>(2 * count));
  for (size_t i = 0; i < count; ++i) {
    const parse::Span& span = e.*parse::kSpanFields[i].member;
    spans->AddAlreadyReserved(span.pos);
    spans->AddAlreadyReserved(span.len);
  }
}

void WireBatch::Clear() {
  bytes_.clear();
  events_ = 0;
  last_end_offset_ = 0;
  source_id.clear();
  path.clear();
  first_offset = 0;
}

void WireBatch::Add(const parse::LogEvent& e, uint64_t end_offset) {
  const size_t span_count = SpanCount(e);
  const size_t spans_size = SpansSize(e, span_count);
  Sizer sizer;
  EncodeEvent(e, end_offset, span_count, spans_size, sizer);
  const size_t at = bytes_.size();
  constexpr uint64_t kEventsTag =
      Tag(mailfleet::v1::LogBatch::kEventsFieldNumber, kLengthDelimited);
  const size_t head = VarintSize(kEventsTag) + VarintSize(sizer.size);
  bytes_.resize(at + head + sizer.size);
  Writer writer{bytes_.data() + at};
  writer.Varint(kEventsTag);
  writer.Varint(sizer.size);
  EncodeEvent(e, end_offset, span_count, spans_size, writer);
  ++events_;
  last_end_offset_ = end_offset;
}

void WireBatch::MoveInto(uint64_t batch_id, mailfleet::v1::AgentMessage* message) {
  // The batch's own fields after its events: a parser takes fields in any order.
  AppendNumber(mailfleet::v1::LogBatch::kBatchIdFieldNumber, batch_id, &bytes_);
  AppendText(mailfleet::v1::LogBatch::kSourceIdFieldNumber, source_id, &bytes_);
  AppendText(mailfleet::v1::LogBatch::kPathFieldNumber, path, &bytes_);
  AppendNumber(mailfleet::v1::LogBatch::kFirstOffsetFieldNumber, first_offset, &bytes_);
  message->Clear();
  message->GetReflection()
      ->MutableUnknownFields(message)
      ->AddLengthDelimited(mailfleet::v1::AgentMessage::kLogBatchFieldNumber)
      ->swap(bytes_);
  Clear();
}

mailfleet::v1::LogBatch WireBatch::ToProto() const {
  mailfleet::v1::LogBatch batch;
  batch.ParseFromString(bytes_);
  batch.set_source_id(source_id);
  batch.set_path(path);
  batch.set_first_offset(first_offset);
  return batch;
}

}  // namespace mailfleet::agent
