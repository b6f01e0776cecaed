// Typed queue and service actions end to end without a mail system: validation
// (common/actions), the `postqueue -j` listing and its filters (agent/exec/queue), the exact
// argv lines the ActionRunner runs through a fake runner and a fixed clock (agent/exec), and
// the CLI's aggregated queue tables (cli/queue_command).
#include "common/actions/actions.h"

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "agent/exec/action_runner.h"
#include "agent/exec/queue.h"
#include "cli/queue_command.h"
#include "common/clock.h"
#include "common/parse/utf8.h"
#include "fmt/format.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_process_runner.h"

namespace mailfleet {
namespace {

using actions::Risk;
using mailfleet::testing::FakeProcessRunner;
using mailfleet::v1::Command;
using mailfleet::v1::CommandResult;
using mailfleet::v1::HostResult;
using mailfleet::v1::QueueFilter;
using mailfleet::v1::QueueMessage;
using Argv = std::vector<std::string>;
using Table = std::vector<std::vector<std::string>>;

constexpr int64_t kNow = 1'700'000'000;  // the fake clock's time, seconds since the epoch

// text may be a std::string, std::string_view or absl::string_view (Status messages).
template <typename Text>
::testing::AssertionResult HasText(const Text& text, std::string_view part) {
  if (std::string_view(text.data(), text.size()).find(part) != std::string_view::npos) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "'" << text << "' does not contain '" << part << "'";
}

actions::Params MakeParams(const std::map<std::string, std::string>& kv) {
  actions::Params p;
  for (const auto& [k, v] : kv) p[k] = v;
  return p;
}

QueueFilter ToFilter(std::string to) {
  QueueFilter f;
  f.set_to(std::move(to));
  return f;
}

QueueFilter IdsFilter(std::vector<std::string> ids) {
  QueueFilter f;
  for (auto& id : ids) f.add_queue_ids(std::move(id));
  return f;
}

QueueFilter QueuesFilter(std::vector<std::string> queues) {
  QueueFilter f;
  for (auto& q : queues) f.add_queues(std::move(q));
  return f;
}

// ---------------------------------------------------------------------------------------------
// Validation: ids, addresses, queue names, whole commands.

TEST(ActionsValidationTest, AcceptsShortAndLongQueueIds) {
  for (const char* id : {"3F1A2B4C5D", "ABCDEF", "0123456789ABCDEF0123", "4ZbCZn4gyrzVnMg",
                         "4ZbCZn4gyrz1", "4ZbCZn4gyrzVnMgABCDEFGHI"}) {
    EXPECT_TRUE(actions::ValidateQueueId(id).ok()) << id << ": " << actions::ValidateQueueId(id);
  }
}

TEST(ActionsValidationTest, RefusesMalformedQueueIdsNamingThem) {
  struct Case {
    std::string id;
    std::string shown;  // what the error must contain
  };
  const std::vector<Case> cases = {
      {"", "empty queue id"},
      {"ALL", "'ALL' is not a queue id"},
      {"; rm -rf /", "'; rm -rf /'"},
      {"$(reboot)", "'$(reboot)'"},
      {"`id`", "'`id`'"},
      {"3F1A2B4C5D\n", "'3F1A2B4C5D\\x0a'"},
      {"3F1A2B\nALL", "'3F1A2B\\x0aALL'"},
      {"3F1A2B4C5D\r", "'3F1A2B4C5D\\x0d'"},
      {"-h", "'-h'"},
      {"-3F1A2B4C5D", "'-3F1A2B4C5D'"},
      {"-ALL", "'-ALL'"},
      {"3F1A2B4C5D ALL", "'3F1A2B4C5D ALL'"},
      {"3F1A2B4C5D deferred", "'3F1A2B4C5D deferred'"},
      {"all", "'all'"},
      {"3f1a2b4c5d", "'3f1a2b4c5d'"},      // lowercase hex is no short id, and too short for long
      {"3f1a2b4c5d6e", "'3f1a2b4c5d6e'"},  // lowercase hex of long-id length, but no 'z'
      {"3F1A2", "'3F1A2'"},                // too short
      {"0123456789ABCDEF01234", "'0123456789ABCDEF01234'"},          // 21 hex digits
      {"4ZbCZn4gyrzVnMgABCDEFGHIJ", "'4ZbCZn4gyrzVnMgABCDEFGHIJ'"},  // 25 characters
      {"4ZbCZn4gyrzVnMg;id", "'4ZbCZn4gyrzVnMg;id'"},
      {"3F1A2B4C5D*", "'3F1A2B4C5D*'"},  // postqueue -p's active marker
      {"../../etc/passwd", "'../../etc/passwd'"},
      {std::string("3F1A2B\0C5D", 10), "'3F1A2B\\x00C5D'"},
      {std::string(100, 'A'), std::string(60, 'A') + "...'"},
  };
  for (const auto& c : cases) {
    absl::Status s = actions::ValidateQueueId(c.id);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.id;
    EXPECT_TRUE(HasText(s.message(), c.shown)) << c.shown;
    // Never echoed raw: an error is one printable line.
    EXPECT_EQ(s.message().find('\n'), std::string_view::npos) << s;
  }
}

TEST(ActionsValidationTest, AllAsAQueueIdPointsToEverything) {
  absl::Status s = actions::ValidateQueueId("ALL");
  EXPECT_TRUE(HasText(s.message(), "--everything"));
}

TEST(ActionsValidationTest, AcceptsAddressesDomainsAndTheNullSender) {
  for (const char* v :
       {"alice@example.com", "example.com", "<>", "ALICE+tag@Example.COM", "o'brien@example.ie",
        "mail.example.com", "bounce-123=x@lists.example.org", "a_b@under_score.example"}) {
    EXPECT_TRUE(actions::ValidateAddressOrDomain("sender", v).ok()) << v;
  }
}

TEST(ActionsValidationTest, RefusesMalformedAddressesNamingThem) {
  struct Case {
    std::string value;
    std::string why;
  };
  const std::vector<Case> cases = {
      {"", "'' is empty"},
      {"; rm -rf /", "'; rm -rf /' has ';' in its domain"},
      {"$(reboot)", "'$(reboot)' has '$' in its domain"},
      {"`id`", "'`id`' has '`' in its domain"},
      {"-oProxyCommand=x", "'-oProxyCommand=x' starts with '-'"},
      {"alice@example.com\nbcc@evil.example", "'alice@example.com\\x0abcc@evil.example' has '@'"},
      {"example.com\n", "'example.com\\x0a' has '\\x0a' in its domain"},
      {"alice@", "'alice@' has no domain"},
      {"@example.com", "'@example.com' has nothing before '@'"},
      {"alice@exa mple.com", "has ' ' in its domain"},
      {"alice smith@example.com", "has ' ' in its local part"},
      {"<alice@example.com>", "has '<' in its local part"},
      {"alice@example.com;reboot", "has ';' in its domain"},
      {"alice@example.com$(id)", "has '$' in its domain"},
      {std::string(321, 'a'), "is too long"},
  };
  for (const auto& c : cases) {
    absl::Status s = actions::ValidateAddressOrDomain("recipient", c.value);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.value;
    EXPECT_TRUE(HasText(s.message(), "recipient '")) << c.value;
    EXPECT_TRUE(HasText(s.message(), c.why)) << c.value;
    EXPECT_TRUE(HasText(s.message(), "alice@example.com, a domain like example.com")) << c.value;
  }
}

TEST(ActionsValidationTest, QueueNamesArePostfixsQueuesOnly) {
  for (const char* q : {"incoming", "active", "deferred", "hold", "corrupt", "maildrop"}) {
    EXPECT_TRUE(actions::ValidateQueueName(q).ok()) << q;
  }
  for (const char* q : {"", "Deferred", "ALL", "deferred; rm -rf /", "../hold", "-d", "bounce"}) {
    absl::Status s = actions::ValidateQueueName(q);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << q;
    EXPECT_TRUE(HasText(s.message(), fmt::format("'{}' is not a Postfix queue", q)));
    EXPECT_TRUE(HasText(s.message(), "incoming, active, deferred, hold, corrupt, maildrop"));
  }
}

TEST(ActionsValidationTest, RiskClasses) {
  struct Case {
    std::string action;
    std::map<std::string, std::string> params;
    QueueFilter filter;
    Risk risk;
  };
  const std::vector<Case> cases = {
      {"queue.list", {}, {}, Risk::kRead},
      {"queue.list", {}, ToFilter("example.com"), Risk::kRead},
      {"queue.flush", {}, {}, Risk::kChange},
      {"queue.deliver", {}, IdsFilter({"3F1A2B4C5D"}), Risk::kChange},
      {"queue.hold", {}, ToFilter("example.com"), Risk::kChange},
      {"queue.release", {{"everything", "yes"}}, {}, Risk::kChange},
      {"queue.requeue", {}, QueuesFilter({"deferred"}), Risk::kChange},
      {"queue.delete", {}, ToFilter("example.com"), Risk::kDestructive},
      {"queue.delete", {{"everything", "yes"}}, {}, Risk::kDestructive},
      {"service.postfix", {{"op", "start"}}, {}, Risk::kChange},
      {"service.postfix", {{"op", "reload"}}, {}, Risk::kChange},
      {"service.postfix", {{"op", "restart"}}, {}, Risk::kChange},
      {"service.postfix", {{"op", "stop"}}, {}, Risk::kDestructive},
      {"service.dovecot", {{"op", "restart"}}, {}, Risk::kChange},
      {"service.dovecot", {{"op", "stop"}}, {}, Risk::kDestructive},
      {"auth.cache_flush", {}, {}, Risk::kChange},
  };
  for (const auto& c : cases) {
    auto risk = actions::ValidateCommand(c.action, MakeParams(c.params), c.filter);
    ASSERT_TRUE(risk.ok()) << c.action << ": " << risk.status();
    EXPECT_EQ(actions::RiskName(*risk), actions::RiskName(c.risk)) << c.action;
  }
}

TEST(ActionsValidationTest, RefusesBadCommandsNamingTheBadValue) {
  struct Case {
    std::string action;
    std::map<std::string, std::string> params;
    QueueFilter filter;
    std::vector<std::string> message;  // every part must appear in the error
  };
  QueueFilter both_ages;
  both_ages.set_older_than_seconds(3600);
  both_ages.set_younger_than_seconds(600);
  QueueFilter long_reason;
  long_reason.set_reason(std::string(201, 'x'));
  QueueFilter id_and_to = IdsFilter({"3F1A2B4C5D"});
  id_and_to.set_to("example.com");
  QueueFilter bad_from;
  bad_from.set_from("$(reboot)");
  const std::vector<Case> cases = {
      {"queue.purge", {}, {}, {"no action 'queue.purge'", "queue.list", "queue.delete"}},
      {"queue.list; reboot", {}, {}, {"no action 'queue.list; reboot'"}},
      {"", {}, {}, {"no action ''"}},
      {"queue.list", {{"force", "yes"}}, {}, {"queue.list takes no parameter 'force'"}},
      {"queue.hold", {{"everything", "yes"}, {"--all", "1"}}, {}, {"no parameter '--all'"}},
      {"queue.delete",
       {{"everything", "true"}},
       {},
       {"queue.delete everything", "'true' is not a valid value", "'yes'"}},
      {"queue.delete", {{"everything", "yes; reboot"}}, {}, {"'yes; reboot'"}},
      {"service.postfix",
       {{"op", "kill"}},
       {},
       {"service.postfix op", "'kill' is not an operation", "start, stop, reload, restart"}},
      {"service.postfix", {{"op", "restart; reboot"}}, {}, {"'restart; reboot'"}},
      {"service.postfix", {{"op", "RESTART"}}, {}, {"'RESTART'"}},
      {"service.dovecot", {{"op", ""}}, {}, {"'' is not an operation"}},
      {"service.postfix", {}, {}, {"service.postfix needs the parameter 'op'"}},
      {"service.postfix",
       {{"op", "restart"}},
       ToFilter("example.com"),
       {"service.postfix takes no queue filter"}},
      {"auth.cache_flush", {}, QueuesFilter({"hold"}), {"auth.cache_flush takes no queue filter"}},
      {"queue.hold", {}, IdsFilter({"3F1A2B; reboot"}), {"'3F1A2B; reboot'"}},
      {"queue.hold", {}, IdsFilter({"3F1A2B4C5D", "ALL"}), {"'ALL' is not a queue id"}},
      {"queue.delete", {}, IdsFilter({"-d"}), {"'-d' is not a Postfix queue id"}},
      {"queue.list", {}, QueuesFilter({"deferred", "tmp"}), {"'tmp' is not a Postfix queue"}},
      {"queue.list", {}, ToFilter("`id`"), {"recipient '`id`'"}},
      {"queue.list", {}, bad_from, {"sender '$(reboot)'"}},
      {"queue.list", {}, long_reason, {"longer than 200 characters"}},
      {"queue.list", {}, both_ages, {"--older-than and --younger-than"}},
      {"queue.deliver", {}, {}, {"exactly one queue id"}},
      {"queue.deliver", {}, IdsFilter({"3F1A2B4C5D", "4B2C3D4E5F"}), {"exactly one queue id"}},
      {"queue.deliver", {}, id_and_to, {"exactly one queue id and no other filter"}},
  };
  for (const auto& c : cases) {
    auto risk = actions::ValidateCommand(c.action, MakeParams(c.params), c.filter);
    ASSERT_FALSE(risk.ok()) << c.action;
    EXPECT_EQ(risk.status().code(), absl::StatusCode::kInvalidArgument) << c.action;
    for (const auto& part : c.message) {
      EXPECT_TRUE(HasText(risk.status().message(), part)) << c.action;
    }
  }
}

TEST(ActionsValidationTest, ChangingTheWholeQueueNeedsEverything) {
  for (const char* action : {"queue.hold", "queue.release", "queue.requeue", "queue.delete"}) {
    auto unfiltered = actions::ValidateCommand(action, {}, {});
    ASSERT_FALSE(unfiltered.ok()) << action;
    EXPECT_TRUE(HasText(unfiltered.status().message(), "no filter selects any message"));
    EXPECT_TRUE(HasText(unfiltered.status().message(), "--everything"));

    EXPECT_TRUE(actions::ValidateCommand(action, MakeParams({{"everything", "yes"}}), {}).ok())
        << action;
    EXPECT_TRUE(actions::ValidateCommand(action, {}, ToFilter("example.com")).ok()) << action;
    EXPECT_TRUE(actions::ValidateCommand(action, {}, QueuesFilter({"deferred"})).ok()) << action;
  }
}

TEST(ActionsValidationTest, RegistryListsEachActionOnce) {
  std::set<std::string> names;
  for (const auto& info : actions::Registry()) {
    EXPECT_TRUE(names.emplace(info.name).second) << "twice: " << info.name;
    EXPECT_FALSE(info.summary.empty()) << info.name;
  }
  for (const char* name : {"queue.list", "queue.flush", "queue.deliver", "queue.hold",
                           "queue.release", "queue.requeue", "queue.delete", "service.postfix",
                           "service.dovecot", "auth.cache_flush"}) {
    EXPECT_TRUE(names.contains(name)) << name;
  }
}

TEST(ActionsValidationTest, RiskNamesRoundTrip) {
  for (Risk r : {Risk::kRead, Risk::kChange, Risk::kDestructive}) {
    auto parsed = actions::ParseRisk(actions::RiskName(r));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, r);
  }
  EXPECT_EQ(actions::RiskName(Risk::kDestructive), "destructive");
  auto bad = actions::ParseRisk("dangerous");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(HasText(bad.status().message(), "'dangerous' is not a risk class"));
}

// ---------------------------------------------------------------------------------------------
// postqueue -j

TEST(PostqueueJsonTest, ParsesRealisticOutput) {
  // Postfix 3.7's postqueue -j, plus a field a newer Postfix might add (ignored), a blank
  // line, and a delay reason with bytes that are not UTF-8 (a remote server's banner).
  const std::string text =
      R"({"queue_name": "deferred", "queue_id": "3F1A2B4C5D", "arrival_time": 1699992800, )"
      R"("message_size": 2048, "forced_expire": false, "sender": "alice@example.com", )"
      R"("recipients": [{"address": "bob@remote.example", "delay_reason": "connect to )"
      R"(mx.remote.example[198.51.100.7]:25: Connection timed out"}]})"
      "\n"
      R"({"queue_name": "hold", "queue_id": "4ZbCZn4gyrzVnMg", "arrival_time": 1699999000, )"
      R"("message_size": 512, "forced_expire": true, "sender": "", "x_future_field": )"
      R"({"nested": [1, "two", null]}, "recipients": [{"address": "carol@remote.example", )"
      R"("x_recipient_extra": 7}, {"address": "dave@other.example", "delay_reason": ""}]})"
      "\n"
      "\n"
      "  \r\n"
      R"({"queue_name": "deferred", "queue_id": "5C3D4E5F6A", "arrival_time": 1699999900, )"
      R"("message_size": 900, "forced_expire": false, "sender": "bounce@example.com", )"
      R"("recipients": [{"address": "erin@remote.example", "delay_reason": "host said: 550 )"
      "\xff\xfe"
      R"( go away"}]})"
      "\n";
  auto parsed = agent::ParsePostqueueJson(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), 3u);

  const QueueMessage& first = (*parsed)[0];
  EXPECT_EQ(first.queue_name(), "deferred");
  EXPECT_EQ(first.queue_id(), "3F1A2B4C5D");
  EXPECT_EQ(first.arrival_time(), 1699992800);
  EXPECT_EQ(first.message_size(), 2048u);
  EXPECT_FALSE(first.forced_expire());
  EXPECT_EQ(first.sender(), "alice@example.com");
  ASSERT_EQ(first.recipients_size(), 1);
  EXPECT_EQ(first.recipients(0).address(), "bob@remote.example");
  EXPECT_EQ(first.recipients(0).delay_reason(),
            "connect to mx.remote.example[198.51.100.7]:25: Connection timed out");

  const QueueMessage& held = (*parsed)[1];
  EXPECT_EQ(held.queue_name(), "hold");
  EXPECT_EQ(held.queue_id(), "4ZbCZn4gyrzVnMg");
  EXPECT_TRUE(held.forced_expire());
  EXPECT_EQ(held.sender(), "");
  ASSERT_EQ(held.recipients_size(), 2);
  EXPECT_EQ(held.recipients(0).address(), "carol@remote.example");
  EXPECT_EQ(held.recipients(0).delay_reason(), "");
  EXPECT_EQ(held.recipients(1).address(), "dave@other.example");

  const QueueMessage& odd = (*parsed)[2];
  EXPECT_EQ(odd.queue_id(), "5C3D4E5F6A");
  ASSERT_EQ(odd.recipients_size(), 1);
  EXPECT_EQ(odd.recipients(0).delay_reason(), "host said: 550 \xEF\xBF\xBD\xEF\xBF\xBD go away");
  EXPECT_TRUE(parse::ValidUtf8(odd.recipients(0).delay_reason()));
}

TEST(PostqueueJsonTest, AnEmptyQueueIsNoMessages) {
  for (const char* text : {"", "\n", " \n\n"}) {
    auto parsed = agent::ParsePostqueueJson(text);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_TRUE(parsed->empty());
  }
}

TEST(PostqueueJsonTest, LastLineWithoutNewlineIsRead) {
  auto parsed = agent::ParsePostqueueJson(
      R"({"queue_name": "active", "queue_id": "ABCDEF", "arrival_time": 1, "message_size": 1, )"
      R"("sender": "a@b.example", "recipients": []})");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), 1u);
  EXPECT_EQ((*parsed)[0].queue_id(), "ABCDEF");
}

TEST(PostqueueJsonTest, AGarbageLineFailsNamingItsNumber) {
  const std::string text =
      R"({"queue_name": "deferred", "queue_id": "3F1A2B4C5D", "arrival_time": 1699992800, )"
      R"("message_size": 2048, "sender": "", "recipients": []})"
      "\n"
      "\n"
      "postqueue: warning: Mail system is down -- accessing queue directly\n"
      R"({"queue_name": "deferred", "queue_id": "4B2C3D4E5F", "arrival_time": 1699992800, )"
      R"("message_size": 2048, "sender": "", "recipients": []})"
      "\n";
  auto parsed = agent::ParsePostqueueJson(text);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(HasText(parsed.status().message(), "postqueue -j line 3 is not a queue record"));
  EXPECT_TRUE(HasText(parsed.status().message(), "Mail system is down"));
}

TEST(PostqueueJsonTest, ARecordWithoutQueueIdFails) {
  for (const char* text : {"{}\n", R"({"queue_name": "deferred", "sender": "a@b.example"})",
                           "[1, 2]\n", R"({"queue_name": "deferred", "queue_id": )"}) {
    auto parsed = agent::ParsePostqueueJson(text);
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_TRUE(HasText(parsed.status().message(), "line 1")) << text;
  }
}

// ---------------------------------------------------------------------------------------------
// Filters

QueueMessage Message(std::string queue, std::string id, int64_t age_seconds, uint64_t size,
                     std::string sender,
                     std::vector<std::pair<std::string, std::string>> recipients) {
  QueueMessage m;
  m.set_queue_name(std::move(queue));
  m.set_queue_id(std::move(id));
  m.set_arrival_time(kNow - age_seconds);
  m.set_message_size(size);
  m.set_sender(std::move(sender));
  for (auto& [address, reason] : recipients) {
    auto* r = m.add_recipients();
    r->set_address(address);
    r->set_delay_reason(reason);
  }
  return m;
}

TEST(QueueFilterTest, AddressMatchesAddressesDomainsAndTheNullSender) {
  struct Case {
    std::string address;
    std::string pattern;
    bool matches;
  };
  const std::vector<Case> cases = {
      {"alice@example.com", "alice@example.com", true},
      {"Alice@Example.COM", "alice@example.com", true},
      {"alice@example.com", "ALICE@EXAMPLE.COM", true},
      {"bob@example.com", "alice@example.com", false},
      {"alice@example.com", "example.com", true},
      {"alice@EXAMPLE.com", "example.COM", true},
      {"alice@mail.example.com", "example.com", false},  // subdomain: not the parent
      {"alice@example.com", "mail.example.com", false},
      {"alice@badexample.com", "example.com", false},
      {"alice@example.com.evil.example", "example.com", false},
      {"example.com@evil.example", "example.com", false},
      {"alice@mail.example.com", "alice@example.com", false},
      {"", "<>", true},
      {"alice@example.com", "<>", false},
      {"", "example.com", false},
      {"", "alice@example.com", false},
      {"postmaster", "example.com", false},
      {"\"a@b\"@example.com", "example.com", true},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(agent::AddressMatches(c.address, c.pattern), c.matches)
        << "'" << c.address << "' vs '" << c.pattern << "'";
  }
}

TEST(QueueFilterTest, EachFieldOfTheFilter) {
  const QueueMessage deferred =
      Message("deferred", "3F1A2B4C5D", 7200, 2048, "alice@example.com",
              {{"bob@remote.example",
                "connect to mx.remote.example[198.51.100.7]:25: Connection "
                "timed out"},
               {"carol@other.example", "host mx.other.example said: 452 4.2.2 Mailbox full"}});
  const QueueMessage bounce =
      Message("hold", "4ZbCZn4gyrzVnMg", 60, 512, "", {{"dave@mail.remote.example", ""}});

  struct Case {
    std::string name;
    QueueFilter filter;
    bool deferred_matches;
    bool bounce_matches;
  };
  auto filter = [](auto set) {
    QueueFilter f;
    set(f);
    return f;
  };
  const std::vector<Case> cases = {
      {"empty", {}, true, true},
      {"from address", filter([](auto& f) { f.set_from("alice@example.com"); }), true, false},
      {"from domain, any case", filter([](auto& f) { f.set_from("EXAMPLE.COM"); }), true, false},
      {"from null sender", filter([](auto& f) { f.set_from("<>"); }), false, true},
      {"to domain, any recipient", filter([](auto& f) { f.set_to("other.example"); }), true, false},
      {"to parent of subdomain", filter([](auto& f) { f.set_to("remote.example"); }), true, false},
      {"to subdomain", filter([](auto& f) { f.set_to("mail.remote.example"); }), false, true},
      {"to address", filter([](auto& f) { f.set_to("Bob@Remote.Example"); }), true, false},
      {"older than 2h, exactly", filter([](auto& f) { f.set_older_than_seconds(7200); }), true,
       false},
      {"older than 2h+1s", filter([](auto& f) { f.set_older_than_seconds(7201); }), false, false},
      {"younger than 2h", filter([](auto& f) { f.set_younger_than_seconds(7200); }), false, true},
      {"younger than 2h+1s", filter([](auto& f) { f.set_younger_than_seconds(7201); }), true, true},
      {"between 1m and 3h", filter([](auto& f) {
         f.set_older_than_seconds(60);
         f.set_younger_than_seconds(10800);
       }),
       true, true},
      {"min size, exactly", filter([](auto& f) { f.set_min_size(2048); }), true, false},
      {"min size, above", filter([](auto& f) { f.set_min_size(2049); }), false, false},
      {"min size, small", filter([](auto& f) { f.set_min_size(100); }), true, true},
      {"reason, any case", filter([](auto& f) { f.set_reason("CONNECTION TIMED OUT"); }), true,
       false},
      {"reason, second recipient", filter([](auto& f) { f.set_reason("mailbox FULL"); }), true,
       false},
      {"reason, none", filter([](auto& f) { f.set_reason("greylisted"); }), false, false},
      {"queues", filter([](auto& f) { f.add_queues("deferred"); }), true, false},
      {"queues, several", filter([](auto& f) {
         f.add_queues("active");
         f.add_queues("hold");
       }),
       false, true},
      {"ids", filter([](auto& f) { f.add_queue_ids("4ZbCZn4gyrzVnMg"); }), false, true},
      {"ids are exact", filter([](auto& f) { f.add_queue_ids("3f1a2b4c5d"); }), false, false},
      {"ids, several", filter([](auto& f) {
         f.add_queue_ids("ABCDEF");
         f.add_queue_ids("3F1A2B4C5D");
       }),
       true, false},
      {"every field must pass", filter([](auto& f) {
         f.add_queues("deferred");
         f.set_from("example.com");
         f.set_to("remote.example");
         f.set_older_than_seconds(3600);
         f.set_min_size(1000);
         f.set_reason("timed out");
         f.add_queue_ids("3F1A2B4C5D");
       }),
       true, false},
      {"one field failing is enough", filter([](auto& f) {
         f.add_queues("deferred");
         f.set_from("example.com");
         f.set_min_size(4096);
       }),
       false, false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(agent::MatchesFilter(deferred, c.filter, kNow), c.deferred_matches) << c.name;
    EXPECT_EQ(agent::MatchesFilter(bounce, c.filter, kNow), c.bounce_matches) << c.name;
  }
}

// ---------------------------------------------------------------------------------------------
// The ActionRunner

class FixedClock final : public Clock {
 public:
  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::time_point(std::chrono::seconds(kNow));
  }
  std::chrono::steady_clock::time_point SteadyNow() const override {
    return std::chrono::steady_clock::time_point(std::chrono::hours(1000));
  }
};

// A queue as Postfix 3.7 lists it: arrival times relative to kNow (1700000000).
//   3F1A2B4C5D  deferred  2h    bob@remote.example
//   4B2C3D4E5F  deferred  10m   carol@remote.example, dave@other.example
//   5C3D4E5F6A  active    10s   erin@mail.remote.example (a subdomain)
//   6D4E5F6A7B  hold      ~28h  frank@remote.example
//   7E5F6A7B8C  hold      ~5.5h gina@other.example
//   4ZbCZn4gyrzVnMg incoming 1s hal@REMOTE.example
constexpr char kQueue[] =
    R"({"queue_name": "deferred", "queue_id": "3F1A2B4C5D", "arrival_time": 1699992800, "message_size": 2048, "forced_expire": false, "sender": "alice@example.com", "recipients": [{"address": "bob@remote.example", "delay_reason": "connect to mx.remote.example[198.51.100.7]:25: Connection timed out"}]}
{"queue_name": "deferred", "queue_id": "4B2C3D4E5F", "arrival_time": 1699999400, "message_size": 512, "forced_expire": false, "sender": "", "recipients": [{"address": "carol@remote.example", "delay_reason": "host mx.remote.example[198.51.100.7] said: 452 4.2.2 Mailbox full"}, {"address": "dave@other.example", "delay_reason": "connect to mx.other.example[203.0.113.9]:25: Connection refused"}]}
{"queue_name": "active", "queue_id": "5C3D4E5F6A", "arrival_time": 1699999990, "message_size": 900, "forced_expire": false, "sender": "alice@example.com", "recipients": [{"address": "erin@mail.remote.example"}]}
{"queue_name": "hold", "queue_id": "6D4E5F6A7B", "arrival_time": 1699900000, "message_size": 40000, "forced_expire": false, "sender": "spam@example.com", "recipients": [{"address": "frank@remote.example"}]}
{"queue_name": "hold", "queue_id": "7E5F6A7B8C", "arrival_time": 1699980000, "message_size": 700, "forced_expire": false, "sender": "alice@example.com", "recipients": [{"address": "gina@other.example"}]}
{"queue_name": "incoming", "queue_id": "4ZbCZn4gyrzVnMg", "arrival_time": 1699999999, "message_size": 300, "forced_expire": false, "sender": "alice@example.com", "recipients": [{"address": "hal@REMOTE.example"}]}
)";

const Argv kList = {"postqueue", "-c", "/etc/pf2", "-j"};

class ActionRunnerTest : public ::testing::Test {
 protected:
  void AnswerQueue(std::string json) { runner_.Answer(kList, {.exit_code = 0, .out = json}); }

  CommandResult Run(const Command& command) {
    agent::ActionRunner actions(runner_, clock_, options_);
    return actions.Run(command);
  }

  static Command Make(std::string action, std::map<std::string, std::string> params = {},
                      QueueFilter filter = {}, bool dry_run = false) {
    Command c;
    c.set_command_id("c-17");
    c.set_action(std::move(action));
    for (const auto& [k, v] : params) (*c.mutable_params())[k] = v;
    *c.mutable_filter() = std::move(filter);
    c.set_dry_run(dry_run);
    return c;
  }

  static std::vector<std::string> Commands(const CommandResult& r) {
    return {r.result().commands().begin(), r.result().commands().end()};
  }

  static std::vector<std::string> Ids(const CommandResult& r) {
    std::vector<std::string> ids;
    for (const auto& m : r.result().messages()) ids.push_back(m.queue_id());
    return ids;
  }

  FakeProcessRunner runner_;
  FixedClock clock_;
  agent::ActionRunnerOptions options_{.postfix_config_dir = "/etc/pf2",
                                      .dovecot_config = "/etc/dc2/dovecot.conf"};
};

TEST_F(ActionRunnerTest, ListRunsOnlyPostqueueAndReportsTheMatches) {
  AnswerQueue(kQueue);
  CommandResult r = Run(Make("queue.list", {}, ToFilter("remote.example")));
  EXPECT_EQ(r.status(), "ok") << r.error();
  EXPECT_EQ(r.command_id(), "c-17");
  EXPECT_TRUE(r.final());
  EXPECT_EQ(r.exit_code(), 0);
  EXPECT_EQ(runner_.calls(), std::vector<Argv>{kList});
  EXPECT_EQ(r.result().matched(), 4u);
  EXPECT_EQ(Ids(r), (std::vector<std::string>{"3F1A2B4C5D", "4B2C3D4E5F", "6D4E5F6A7B",
                                              "4ZbCZn4gyrzVnMg"}));
  EXPECT_EQ(r.result().changed(), 0u);
  // The listing is data, not output.
  EXPECT_EQ(r.result().output(), "");
}

TEST_F(ActionRunnerTest, ListFiltersByNullSenderAndAge) {
  AnswerQueue(kQueue);
  CommandResult null_sender = Run(Make("queue.list", {}, [] {
    QueueFilter f;
    f.set_from("<>");
    return f;
  }()));
  EXPECT_EQ(Ids(null_sender), std::vector<std::string>{"4B2C3D4E5F"});

  CommandResult old = Run(Make("queue.list", {}, [] {
    QueueFilter f;
    f.set_older_than_seconds(3 * 3600);
    return f;
  }()));
  EXPECT_EQ(Ids(old), (std::vector<std::string>{"6D4E5F6A7B", "7E5F6A7B8C"}));
}

TEST_F(ActionRunnerTest, HoldByRecipientDomainHoldsExactlyTheMatchingIds) {
  AnswerQueue(kQueue);
  const Argv hold = {"postsuper",  "-c", "/etc/pf2",       "-h", "3F1A2B4C5D", "-h",
                     "4B2C3D4E5F", "-h", "4ZbCZn4gyrzVnMg"};
  runner_.Answer(hold, {.exit_code = 0, .err = "postsuper: Placed on hold: 3 messages\n"});
  CommandResult r = Run(Make("queue.hold", {}, ToFilter("remote.example")));
  EXPECT_EQ(r.status(), "ok") << r.error();
  // Not 5C3D4E5F6A (a subdomain's recipient) nor 6D4E5F6A7B (already held).
  EXPECT_EQ(runner_.calls(), (std::vector<Argv>{kList, hold}));
  EXPECT_EQ(r.result().matched(), 3u);
  EXPECT_EQ(r.result().changed(), 3u);
  EXPECT_EQ(Commands(r),
            (std::vector<std::string>{
                "postqueue -c /etc/pf2 -j",
                "postsuper -c /etc/pf2 -h 3F1A2B4C5D -h 4B2C3D4E5F -h 4ZbCZn4gyrzVnMg"}));
  EXPECT_EQ(r.result().summary(), "3 of 3 matching messages put on hold");
  EXPECT_TRUE(HasText(r.result().output(), "Placed on hold: 3 messages"));
}

TEST_F(ActionRunnerTest, ReleasePicksOnlyHeldMessages) {
  AnswerQueue(kQueue);
  const Argv release = {"postsuper", "-c", "/etc/pf2", "-H", "6D4E5F6A7B"};
  runner_.Answer(release, {.exit_code = 0, .err = "postsuper: Released from hold: 1 message\n"});
  CommandResult r = Run(Make("queue.release", {}, ToFilter("remote.example")));
  EXPECT_EQ(r.status(), "ok") << r.error();
  EXPECT_EQ(runner_.calls(), (std::vector<Argv>{kList, release}));
  EXPECT_EQ(r.result().changed(), 1u);

  // other.example: gina's held message, not dave's deferred one.
  const Argv release_other = {"postsuper", "-c", "/etc/pf2", "-H", "7E5F6A7B8C"};
  runner_.Answer(release_other,
                 {.exit_code = 0, .err = "postsuper: Released from hold: 1 message\n"});
  CommandResult other = Run(Make("queue.release", {}, ToFilter("other.example")));
  EXPECT_EQ(other.status(), "ok") << other.error();
  EXPECT_EQ(runner_.calls().back(), release_other);
}

TEST_F(ActionRunnerTest, DeleteEverythingInOneQueueUsesAll) {
  AnswerQueue(kQueue);
  const Argv del = {"postsuper", "-c", "/etc/pf2", "-d", "ALL", "deferred"};
  runner_.Answer(del, {.exit_code = 0, .err = "postsuper: Deleted: 2 messages\n"});
  CommandResult r = Run(Make("queue.delete", {{"everything", "yes"}}, QueuesFilter({"deferred"})));
  EXPECT_EQ(r.status(), "ok") << r.error();
  EXPECT_EQ(runner_.calls(), (std::vector<Argv>{kList, del}));
  EXPECT_EQ(r.result().matched(), 2u);
  EXPECT_EQ(r.result().changed(), 2u);
}

TEST_F(ActionRunnerTest, DeleteEverythingWithoutAQueueUsesAllAlone) {
  AnswerQueue(kQueue);
  const Argv del = {"postsuper", "-c", "/etc/pf2", "-d", "ALL"};
  runner_.Answer(del, {.exit_code = 0, .err = "postsuper: Deleted: 6 messages\n"});
  CommandResult r = Run(Make("queue.delete", {{"everything", "yes"}}));
  EXPECT_EQ(r.status(), "ok") << r.error();
  EXPECT_EQ(runner_.calls(), (std::vector<Argv>{kList, del}));
  EXPECT_EQ(r.result().changed(), 6u);
}

TEST_F(ActionRunnerTest, EverythingWithAFilterStillNamesEachId) {
  AnswerQueue(kQueue);
  const Argv del = {"postsuper", "-c", "/etc/pf2", "-d", "4B2C3D4E5F", "-d", "7E5F6A7B8C"};
  runner_.Answer(del, {.exit_code = 0, .err = "postsuper: Deleted: 2 messages\n"});
  CommandResult r = Run(Make("queue.delete", {{"everything", "yes"}}, ToFilter("other.example")));
  EXPECT_EQ(r.status(), "ok") << r.error();
  EXPECT_EQ(runner_.calls(), (std::vector<Argv>{kList, del}));

  // Two queues are not one postsuper queue argument either.
  const Argv two = {"postsuper", "-c", "/etc/pf2", "-r", "5C3D4E5F6A", "-r", "4ZbCZn4gyrzVnMg"};
  runner_.Answer(two, {.exit_code = 0, .err = "postsuper: Requeued: 2 messages\n"});
  CommandResult requeue =
      Run(Make("queue.requeue", {{"everything", "yes"}}, QueuesFilter({"active", "incoming"})));
  EXPECT_EQ(requeue.status(), "ok") << requeue.error();
  EXPECT_EQ(runner_.calls().back(), two);
}

TEST_F(ActionRunnerTest, RequeueById) {
  AnswerQueue(kQueue);
  const Argv requeue = {"postsuper", "-c", "/etc/pf2", "-r", "3F1A2B4C5D"};
  runner_.Answer(requeue, {.exit_code = 0, .err = "postsuper: Requeued: 1 message\n"});
  CommandResult r = Run(Make("queue.requeue", {}, IdsFilter({"3F1A2B4C5D"})));
  EXPECT_EQ(r.status(), "ok") << r.error();
  EXPECT_EQ(runner_.calls(), (std::vector<Argv>{kList, requeue}));
  EXPECT_EQ(r.result().changed(), 1u);
}

TEST_F(ActionRunnerTest, NoMatchRunsNoPostsuper) {
  AnswerQueue(kQueue);
  CommandResult r = Run(Make("queue.delete", {}, ToFilter("nowhere.example")));
  EXPECT_EQ(r.status(), "ok") << r.error();
  EXPECT_EQ(runner_.calls(), std::vector<Argv>{kList});
  EXPECT_EQ(r.result().matched(), 0u);
  EXPECT_EQ(r.result().changed(), 0u);
}

TEST_F(ActionRunnerTest, DryRunOnlyListsAndShowsTheWouldBeCommands) {
  AnswerQueue(kQueue);
  CommandResult r = Run(Make("queue.delete", {}, ToFilter("remote.example"), /*dry_run=*/true));
  EXPECT_EQ(r.status(), "ok") << r.error();
  EXPECT_EQ(runner_.calls(), std::vector<Argv>{kList});
  EXPECT_TRUE(r.result().dry_run());
  EXPECT_EQ(Commands(r), (std::vector<std::string>{"postqueue -c /etc/pf2 -j",
                                                   "postsuper -c /etc/pf2 -d 3F1A2B4C5D -d "
                                                   "4B2C3D4E5F -d 6D4E5F6A7B -d 4ZbCZn4gyrzVnMg"}));
  EXPECT_EQ(r.result().matched(), 4u);
  EXPECT_EQ(r.result().changed(), 0u);
  EXPECT_EQ(r.result().summary(), "would have 4 messages deleted");

  CommandResult all = Run(Make("queue.delete", {{"everything", "yes"}}, QueuesFilter({"hold"}),
                               /*dry_run=*/true));
  EXPECT_EQ(Commands(all), (std::vector<std::string>{"postqueue -c /etc/pf2 -j",
                                                     "postsuper -c /etc/pf2 -d ALL hold"}));
  EXPECT_EQ(runner_.calls(), (std::vector<Argv>{kList, kList}));
}

TEST_F(ActionRunnerTest, ManyIdsAreSplitOverSeveralPostsuperLines) {
  const int n = 2 * agent::ActionRunner::kIdsPerCommand + 50;
  std::string json;
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) {
    ids.push_back(fmt::format("{:010X}", 0xA00000 + i));
    json += fmt::format(
        R"({{"queue_name": "deferred", "queue_id": "{}", "arrival_time": 1699990000, )"
        R"("message_size": 1000, "sender": "news@example.com", "recipients": )"
        R"([{{"address": "u{}@bulk.example", "delay_reason": "451 4.7.1 greylisted"}}]}})"
        "\n",
        ids.back(), i);
  }
  AnswerQueue(json);
  std::vector<Argv> expected = {kList};
  for (int start = 0; start < n; start += agent::ActionRunner::kIdsPerCommand) {
    Argv argv = {"postsuper", "-c", "/etc/pf2"};
    int end = std::min(n, start + agent::ActionRunner::kIdsPerCommand);
    for (int i = start; i < end; ++i) {
      argv.push_back("-h");
      argv.push_back(ids[i]);
    }
    runner_.Answer(argv,
                   {.exit_code = 0,
                    .err = fmt::format("postsuper: Placed on hold: {} messages\n", end - start)});
    expected.push_back(std::move(argv));
  }
  ASSERT_EQ(expected.size(), 4u);  // the listing and 200 + 200 + 50

  CommandResult r = Run(Make("queue.hold", {}, ToFilter("bulk.example")));
  EXPECT_EQ(r.status(), "ok") << r.error();
  EXPECT_EQ(runner_.calls(), expected);
  EXPECT_EQ(expected[1].size(), 3u + 2 * agent::ActionRunner::kIdsPerCommand);
  EXPECT_EQ(expected[3].size(), 3u + 2 * 50);
  EXPECT_EQ(r.result().matched(), static_cast<uint32_t>(n));
  EXPECT_EQ(r.result().changed(), static_cast<uint32_t>(n));
}

TEST_F(ActionRunnerTest, IdsFromPostfixAreCheckedBeforeAnyArgv) {
  // Whatever postqueue prints, nothing that is not a queue id reaches postsuper.
  AnswerQueue(
      R"({"queue_name": "deferred", "queue_id": "ALL", "arrival_time": 1699990000, "message_size": 1, "sender": "", "recipients": [{"address": "x@remote.example"}]}
{"queue_name": "deferred", "queue_id": "-d", "arrival_time": 1699990000, "message_size": 1, "sender": "", "recipients": [{"address": "y@remote.example"}]}
{"queue_name": "deferred", "queue_id": "3F1A2B4C5D", "arrival_time": 1699990000, "message_size": 1, "sender": "", "recipients": [{"address": "z@remote.example"}]}
)");
  const Argv del = {"postsuper", "-c", "/etc/pf2", "-d", "3F1A2B4C5D"};
  runner_.Answer(del, {.exit_code = 0, .err = "postsuper: Deleted: 1 message\n"});
  CommandResult r = Run(Make("queue.delete", {}, ToFilter("remote.example")));
  EXPECT_EQ(r.status(), "ok") << r.error();
  EXPECT_EQ(runner_.calls(), (std::vector<Argv>{kList, del}));
  EXPECT_EQ(r.result().matched(), 1u);
}

TEST_F(ActionRunnerTest, FlushWithoutFilterFlushesTheWholeQueue) {
  AnswerQueue(kQueue);
  const Argv flush = {"postqueue", "-c", "/etc/pf2", "-f"};
  runner_.Answer(flush, {.exit_code = 0});
  CommandResult r = Run(Make("queue.flush"));
  EXPECT_EQ(r.status(), "ok") << r.error();
  EXPECT_EQ(runner_.calls(), (std::vector<Argv>{kList, flush}));
  EXPECT_EQ(r.result().changed(), 6u);
}

TEST_F(ActionRunnerTest, FlushWithAFilterSchedulesEachDeferredMatch) {
  AnswerQueue(kQueue);
  const Argv first = {"postqueue", "-c", "/etc/pf2", "-i", "3F1A2B4C5D"};
  const Argv second = {"postqueue", "-c", "/etc/pf2", "-i", "4B2C3D4E5F"};
  runner_.Answer(first, {.exit_code = 0});
  runner_.Answer(second, {.exit_code = 0});
  // remote.example also matches an incoming and a held message: not deferred, not flushed.
  CommandResult r = Run(Make("queue.flush", {}, ToFilter("remote.example")));
  EXPECT_EQ(r.status(), "ok") << r.error();
  EXPECT_EQ(runner_.calls(), (std::vector<Argv>{kList, first, second}));
  EXPECT_EQ(r.result().changed(), 2u);

  CommandResult dry = Run(Make("queue.flush", {}, ToFilter("remote.example"), /*dry_run=*/true));
  EXPECT_EQ(Commands(dry), (std::vector<std::string>{"postqueue -c /etc/pf2 -j",
                                                     "postqueue -c /etc/pf2 -i 3F1A2B4C5D",
                                                     "postqueue -c /etc/pf2 -i 4B2C3D4E5F"}));
  EXPECT_EQ(runner_.calls().size(), 4u);  // only the listing was added
}

TEST_F(ActionRunnerTest, DeliverSchedulesOneMessage) {
  AnswerQueue(kQueue);
  const Argv deliver = {"postqueue", "-c", "/etc/pf2", "-i", "4B2C3D4E5F"};
  runner_.Answer(deliver, {.exit_code = 0});
  CommandResult r = Run(Make("queue.deliver", {}, IdsFilter({"4B2C3D4E5F"})));
  EXPECT_EQ(r.status(), "ok") << r.error();
  EXPECT_EQ(runner_.calls(), (std::vector<Argv>{kList, deliver}));
}

TEST_F(ActionRunnerTest, PostfixRestartWithoutSystemdStopsThenStarts) {
  const Argv stop = {"postfix", "-c", "/etc/pf2", "stop"};
  const Argv start = {"postfix", "-c", "/etc/pf2", "start"};
  runner_.Answer(stop, {.exit_code = 0});
  runner_.Answer(start, {.exit_code = 0});
  CommandResult r = Run(Make("service.postfix", {{"op", "restart"}}));
  EXPECT_EQ(r.status(), "ok") << r.error();
  EXPECT_EQ(runner_.calls(), (std::vector<Argv>{stop, start}));
}

TEST_F(ActionRunnerTest, PostfixRestartStartsEvenWhenStopFails) {
  const Argv stop = {"postfix", "-c", "/etc/pf2", "stop"};
  const Argv start = {"postfix", "-c", "/etc/pf2", "start"};
  runner_.Answer(stop, {.exit_code = 1,
                        .err = "postfix/postfix-script: fatal: the Postfix mail "
                               "system is not running\n"});
  runner_.Answer(start, {.exit_code = 0});
  CommandResult r = Run(Make("service.postfix", {{"op", "restart"}}));
  EXPECT_EQ(r.status(), "ok") << r.error();
  EXPECT_EQ(runner_.calls(), (std::vector<Argv>{stop, start}));
  EXPECT_TRUE(HasText(r.result().output(), "not running"));
}

TEST_F(ActionRunnerTest, PostfixOpsWithoutSystemd) {
  for (const char* op : {"start", "stop", "reload"}) {
    const Argv argv = {"postfix", "-c", "/etc/pf2", op};
    runner_.Answer(argv, {.exit_code = 0});
    CommandResult r = Run(Make("service.postfix", {{"op", op}}));
    EXPECT_EQ(r.status(), "ok") << op << ": " << r.error();
    EXPECT_EQ(runner_.calls().back(), argv);
  }
  EXPECT_EQ(runner_.calls().size(), 3u);
}

TEST_F(ActionRunnerTest, WithSystemdServicesGoThroughSystemctl) {
  options_.use_systemd = true;
  const Argv postfix = {"systemctl", "restart", "postfix.service"};
  const Argv dovecot = {"systemctl", "reload", "dovecot.service"};
  runner_.Answer(postfix, {.exit_code = 0});
  runner_.Answer(dovecot, {.exit_code = 0});
  CommandResult r = Run(Make("service.postfix", {{"op", "restart"}}));
  EXPECT_EQ(r.status(), "ok") << r.error();
  CommandResult d = Run(Make("service.dovecot", {{"op", "reload"}}));
  EXPECT_EQ(d.status(), "ok") << d.error();
  EXPECT_EQ(runner_.calls(), (std::vector<Argv>{postfix, dovecot}));
}

TEST_F(ActionRunnerTest, DovecotOpsWithoutSystemd) {
  const Argv start = {"dovecot", "-c", "/etc/dc2/dovecot.conf"};
  const Argv stop = {"doveadm", "-c", "/etc/dc2/dovecot.conf", "stop"};
  const Argv reload = {"doveadm", "-c", "/etc/dc2/dovecot.conf", "reload"};
  runner_.Answer(start, {.exit_code = 0});
  runner_.Answer(stop, {.exit_code = 0});
  runner_.Answer(reload, {.exit_code = 0});
  for (const char* op : {"start", "stop", "reload", "restart"}) {
    CommandResult r = Run(Make("service.dovecot", {{"op", op}}));
    EXPECT_EQ(r.status(), "ok") << op << ": " << r.error();
  }
  EXPECT_EQ(runner_.calls(), (std::vector<Argv>{start, stop, reload, stop, start}));
}

TEST_F(ActionRunnerTest, AuthCacheFlush) {
  const Argv flush = {"doveadm", "-c", "/etc/dc2/dovecot.conf", "auth", "cache", "flush"};
  runner_.Answer(flush, {.exit_code = 0});
  CommandResult r = Run(Make("auth.cache_flush"));
  EXPECT_EQ(r.status(), "ok") << r.error();
  EXPECT_EQ(runner_.calls(), std::vector<Argv>{flush});
}

TEST_F(ActionRunnerTest, ForbiddenRiskIsRefusedWithoutRunningAnything) {
  options_.forbidden = {Risk::kDestructive};
  AnswerQueue(kQueue);
  runner_.Answer({"postsuper", "-c", "/etc/pf2", "-d", "ALL"}, {.exit_code = 0});
  runner_.Answer({"postfix", "-c", "/etc/pf2", "stop"}, {.exit_code = 0});

  CommandResult del = Run(Make("queue.delete", {{"everything", "yes"}}));
  EXPECT_EQ(del.status(), "refused");
  EXPECT_EQ(del.exit_code(), 1);
  EXPECT_EQ(del.command_id(), "c-17");
  EXPECT_TRUE(HasText(del.error(), "forbids destructive actions such as queue.delete"));
  EXPECT_TRUE(HasText(del.error(), "actions.forbid"));

  CommandResult stop = Run(Make("service.postfix", {{"op", "stop"}}));
  EXPECT_EQ(stop.status(), "refused");

  CommandResult dry = Run(Make("queue.delete", {}, ToFilter("remote.example"), true));
  EXPECT_EQ(dry.status(), "refused");
  EXPECT_TRUE(runner_.calls().empty());

  // A change is still allowed.
  runner_.Answer({"postqueue", "-c", "/etc/pf2", "-f"}, {.exit_code = 0});
  EXPECT_EQ(Run(Make("queue.flush")).status(), "ok");
}

TEST_F(ActionRunnerTest, InvalidCommandsAreRefusedWithoutRunningAnything) {
  AnswerQueue(kQueue);
  struct Case {
    Command command;
    std::string error;
  };
  const std::vector<Case> cases = {
      {Make("queue.hold", {}, IdsFilter({"3F1A2B; reboot"})), "'3F1A2B; reboot'"},
      {Make("queue.delete", {}, IdsFilter({"ALL"})), "'ALL' is not a queue id"},
      {Make("queue.delete", {}, IdsFilter({"-d"})), "'-d'"},
      {Make("queue.delete"), "no filter selects any message"},
      {Make("queue.purge"), "no action 'queue.purge'"},
      {Make("service.postfix", {{"op", "$(reboot)"}}), "'$(reboot)'"},
      {Make("queue.list", {{"verbose", "yes"}}), "no parameter 'verbose'"},
      {Make("queue.list", {}, ToFilter("`id`")), "'`id`'"},
  };
  for (const auto& c : cases) {
    CommandResult r = Run(c.command);
    EXPECT_EQ(r.status(), "refused") << c.error;
    EXPECT_EQ(r.exit_code(), 1);
    EXPECT_TRUE(HasText(r.error(), c.error));
  }
  EXPECT_TRUE(runner_.calls().empty());
}

TEST_F(ActionRunnerTest, AFailingPostsuperFailsWithItsStderr) {
  AnswerQueue(kQueue);
  const Argv del = {"postsuper", "-c", "/etc/pf2", "-d", "4B2C3D4E5F", "-d", "7E5F6A7B8C"};
  runner_.Answer(del, {.exit_code = 1,
                       .err = "postsuper: fatal: scan_dir_push: open directory hold: "
                              "Permission denied\n"});
  CommandResult r = Run(Make("queue.delete", {}, ToFilter("other.example")));
  EXPECT_EQ(r.status(), "failed");
  EXPECT_EQ(r.exit_code(), 1);
  EXPECT_EQ(runner_.calls(), (std::vector<Argv>{kList, del}));
  EXPECT_TRUE(HasText(r.error(), "postsuper -c /etc/pf2 -d 4B2C3D4E5F -d 7E5F6A7B8C"));
  EXPECT_TRUE(HasText(r.error(), "exit 1: postsuper: fatal: scan_dir_push"));
  EXPECT_TRUE(HasText(r.error(), "Permission denied"));
}

TEST_F(ActionRunnerTest, AMissingProgramFails) {
  // No postqueue at all.
  CommandResult r = Run(Make("queue.list"));
  EXPECT_EQ(r.status(), "failed");
  EXPECT_EQ(r.exit_code(), 127);
  EXPECT_TRUE(HasText(r.error(), "'postqueue' not found"));

  // postqueue answers, postsuper is missing.
  AnswerQueue(kQueue);
  CommandResult hold = Run(Make("queue.hold", {}, IdsFilter({"3F1A2B4C5D"})));
  EXPECT_EQ(hold.status(), "failed");
  EXPECT_EQ(hold.exit_code(), 127);
  EXPECT_TRUE(HasText(hold.error(), "'postsuper' not found"));
}

TEST_F(ActionRunnerTest, AFailingOrGarbledListingFails) {
  runner_.Answer(kList, {.exit_code = 69,
                         .err = "postqueue: fatal: Queue report unavailable - mail system is "
                                "down\n"});
  CommandResult down = Run(Make("queue.hold", {}, ToFilter("remote.example")));
  EXPECT_EQ(down.status(), "failed");
  EXPECT_EQ(down.exit_code(), 69);
  EXPECT_TRUE(HasText(down.error(), "mail system is down"));
  EXPECT_EQ(runner_.calls().size(), 1u);

  AnswerQueue(std::string(kQueue) + "{\"queue_name\": \"deferred\", \"queue_id\"\n");
  CommandResult garbled = Run(Make("queue.hold", {}, ToFilter("remote.example")));
  EXPECT_EQ(garbled.status(), "failed");
  EXPECT_TRUE(HasText(garbled.error(), "line 7"));
  EXPECT_EQ(runner_.calls().size(), 2u);  // nothing acted on a half-read queue
}

TEST_F(ActionRunnerTest, AListingCutAtTheOutputCapFailsEvenAtALineBoundary) {
  // The runner's output cap can end a listing exactly after a newline: every line left
  // parses, but the queue was not read whole.
  runner_.Answer(kList, {.exit_code = 0, .truncated = true, .out = kQueue});
  CommandResult r = Run(Make("queue.delete", {}, ToFilter("remote.example")));
  EXPECT_EQ(r.status(), "failed");
  EXPECT_TRUE(HasText(r.error(), "`postqueue -j` printed more than the agent reads"));
  EXPECT_TRUE(HasText(r.error(), "nothing was changed"));
  EXPECT_EQ(runner_.calls(), std::vector<Argv>{kList});
}

TEST_F(ActionRunnerTest, ATimedOutCommandIsReportedAsTimeout) {
  AnswerQueue(kQueue);
  runner_.Answer({"postsuper", "-c", "/etc/pf2", "-r", "3F1A2B4C5D"},
                 {.exit_code = -1, .signal = 9, .timed_out = true});
  CommandResult r = Run(Make("queue.requeue", {}, IdsFilter({"3F1A2B4C5D"})));
  EXPECT_EQ(r.status(), "timeout");
  EXPECT_EQ(r.exit_code(), 124);
  EXPECT_TRUE(HasText(r.error(), "postsuper"));
}

TEST(ActionRunnerCountTest, CountPostsuperChanges) {
  struct Case {
    std::string output;
    int changed;
  };
  const std::vector<Case> cases = {
      {"postsuper: Placed on hold: 2 messages\n", 2},
      {"postsuper: Deleted: 1 message\n", 1},
      {"postsuper: Released from hold: 5 messages", 5},
      {"postsuper: Requeued: 12 messages\n", 12},
      {"postsuper: Deleted: 0 messages\n", 0},
      {"postsuper: Deleted: 20 messages\npostsuper: Requeued: 3 messages\n", 23},
      {"postsuper: warning: 3F1A2B4C5D: no such file\npostsuper: Placed on hold: 4 messages\n"
       "postsuper: Placed on hold: 1 message\n",
       5},
      {"", -1},
      {"\n\n", -1},
      {"postsuper: fatal: usage: postsuper [-c config_dir] ...\n", -1},
      {"postsuper: Deleted: many messages\n", -1},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(agent::CountPostsuperChanges(c.output), c.changed) << c.output;
  }
}

// ---------------------------------------------------------------------------------------------
// The CLI's queue tables

QueueMessage TableMessage(std::string queue, int64_t age_seconds, uint64_t size,
                          std::vector<std::pair<std::string, std::string>> recipients) {
  static int next = 0;
  return Message(std::move(queue), fmt::format("{:010X}", 0xB00000 + next++), age_seconds, size,
                 "alice@example.com", std::move(recipients));
}

constexpr char kTimedOut[] = "connect to mx.remote.example[198.51.100.7]:25: Connection timed out";

// h1: two recipients 1 minute old, one 15 minutes old, one held for 2000 minutes.
// h2: one recipient exactly 5 minutes old, one 1279 minutes old; h3 has an empty queue.
std::vector<HostResult> TwoHosts() {
  HostResult h1;
  h1.set_host("h1");
  h1.set_status("ok");
  *h1.mutable_result()->add_messages() =
      TableMessage("deferred", 60, 1000,
                   {{"bob@remote.example", kTimedOut}, {"carol@remote.example", kTimedOut}});
  *h1.mutable_result()->add_messages() = TableMessage(
      "deferred", 15 * 60, 2048,
      {{"dave@other.example", "connect to mx.other.example[203.0.113.9]:25: Connection refused"}});
  *h1.mutable_result()->add_messages() =
      TableMessage("hold", 2000 * 60, 512, {{"erin@remote.example", ""}});
  h1.mutable_result()->set_matched(3);
  HostResult h2;
  h2.set_host("h2");
  h2.set_status("ok");
  *h2.mutable_result()->add_messages() =
      TableMessage("active", 5 * 60, 100, {{"x@remote.example", ""}});
  *h2.mutable_result()->add_messages() =
      TableMessage("deferred", 1279 * 60, 200, {{"y@other.example", kTimedOut}});
  h2.mutable_result()->set_matched(2);
  HostResult h3;
  h3.set_host("h3");
  h3.set_status("ok");
  return {h1, h2, h3};
}

TEST(QueueTableTest, ByDomainHasTotalsDomainsAndHosts) {
  Table t = cli::QueueByDomain(TwoHosts(), kNow);
  const Table expected = {
      {"DOMAIN", "T", "5", "10", "20", "40", "80", "160", "320", "640", "1280", "1280+"},
      {"TOTAL", "6", "2", "1", "1", "0", "0", "0", "0", "0", "1", "1"},
      {"remote.example", "4", "2", "1", "0", "0", "0", "0", "0", "0", "0", "1"},
      {"  h1", "3", "2", "0", "0", "0", "0", "0", "0", "0", "0", "1"},
      {"  h2", "1", "0", "1", "0", "0", "0", "0", "0", "0", "0", "0"},
      {"other.example", "2", "0", "0", "1", "0", "0", "0", "0", "0", "1", "0"},
      {"  h1", "1", "0", "0", "1", "0", "0", "0", "0", "0", "0", "0"},
      {"  h2", "1", "0", "0", "0", "0", "0", "0", "0", "0", "1", "0"},
  };
  EXPECT_EQ(t, expected);
}

TEST(QueueTableTest, ByDomainOfNoMessagesIsHeaderAndZeroTotal) {
  Table t = cli::QueueByDomain({}, kNow);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[1], (std::vector<std::string>{"TOTAL", "0", "0", "0", "0", "0", "0", "0", "0", "0",
                                            "0", "0"}));
}

TEST(QueueTableTest, ByAgeCountsMessagesPerHost) {
  Table t = cli::QueueByAge(TwoHosts(), kNow);
  const Table expected = {
      {"HOST", "T", "5", "10", "20", "40", "80", "160", "320", "640", "1280", "1280+"},
      {"TOTAL", "5", "1", "1", "1", "0", "0", "0", "0", "0", "1", "1"},
      {"h1", "3", "1", "0", "1", "0", "0", "0", "0", "0", "0", "1"},
      {"h2", "2", "0", "1", "0", "0", "0", "0", "0", "0", "1", "0"},
      {"h3", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0"},
  };
  EXPECT_EQ(t, expected);
}

TEST(QueueTableTest, AgeBucketBoundaries) {
  // Column 2 is "5" (under 5 minutes), ..., column 10 is "1280", column 11 "1280+".
  struct Case {
    int64_t age_seconds;
    size_t column;
  };
  const std::vector<Case> cases = {
      {-30, 2},   {0, 2},     {299, 2},    {300, 3},    {599, 3},    {600, 4},
      {1199, 4},  {1200, 5},  {2399, 5},   {2400, 6},   {4800, 7},   {9600, 8},
      {19200, 9}, {38399, 9}, {38400, 10}, {76799, 10}, {76800, 11}, {10'000'000, 11},
  };
  for (const auto& c : cases) {
    HostResult h;
    h.set_host("h1");
    *h.mutable_result()->add_messages() = TableMessage("deferred", c.age_seconds, 1, {});
    Table t = cli::QueueByAge({h}, kNow);
    ASSERT_EQ(t.size(), 3u);
    for (size_t col = 2; col < t[2].size(); ++col) {
      EXPECT_EQ(t[2][col], col == c.column ? "1" : "0")
          << "age " << c.age_seconds << "s, column " << t[0][col];
    }
  }
}

TEST(QueueTableTest, ByReasonGroupsRecipientsPerHost) {
  Table t = cli::QueueByReason(TwoHosts());
  const Table expected = {
      {"REASON", "T", "h1", "h2", "h3"},
      {kTimedOut, "3", "2", "1", "0"},
      {"(none: not deferred)", "2", "1", "1", "0"},
      {"connect to mx.other.example[203.0.113.9]:25: Connection refused", "1", "1", "0", "0"},
  };
  EXPECT_EQ(t, expected);
}

TEST(QueueTableTest, LongReasonsAreGroupedByTheirStart) {
  HostResult h;
  h.set_host("h1");
  *h.mutable_result()->add_messages() =
      TableMessage("deferred", 60, 1,
                   {{"a@example.net",
                     "host mx.example.net[203.0.113.5] said: 450 4.7.1 Recipient address rejected: "
                     "greylisted for 300 seconds (in reply to RCPT TO command) <a@example.net>"},
                    {"b@example.net",
                     "host mx.example.net[203.0.113.5] said: 450 4.7.1 Recipient address rejected: "
                     "greylisted for 300 seconds (in reply to RCPT TO command) <b@example.net>"}});
  Table t = cli::QueueByReason({h});
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[1][0], "host mx.example.net[203.0.113.5] said: 450 4.7.1 Recipient address ...");
  EXPECT_EQ(t[1][0].size(), 70u);
  EXPECT_EQ(t[1][1], "2");
}

TEST(QueueTableTest, ByHostCountsQueuesSizeAndOldest) {
  Table t = cli::QueueByHost(TwoHosts(), kNow);
  const Table expected = {
      {"HOST", "MESSAGES", "INCOMING", "ACTIVE", "DEFERRED", "HOLD", "CORRUPT", "SIZE", "OLDEST"},
      {"h1", "3", "0", "0", "2", "1", "0", "3.5 KiB", "33h"},
      {"h2", "2", "0", "1", "1", "0", "0", "300 B", "21h"},
      {"h3", "0", "0", "0", "0", "0", "0", "0 B", "-"},
  };
  EXPECT_EQ(t, expected);
}

}  // namespace
}  // namespace mailfleet
