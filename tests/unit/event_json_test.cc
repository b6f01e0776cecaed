// `mailfleet parse`'s line format: typed values, the events table's column names.
#include "common/parse/event_json.h"

#include "common/parse/parser.h"
#include "gtest/gtest.h"

namespace mailfleet::parse {
namespace {

std::string Json(std::string_view line) {
  Parser parser(std::chrono::system_clock::time_point(std::chrono::seconds(1'796'000'000)));
  LogEvent event;
  parser.Parse(line, &event);
  std::string out;
  AppendEventJson(event, &out);
  return out;
}

TEST(EventJsonTest, ADeliveryHasNumbersAnArrayAndTheColumnNames) {
  EXPECT_EQ(
      Json("Nov 29 13:29:02 h1 postfix/smtp[23347]: ED12E116711: to=<bob@h3.lab.test>, "
           "relay=h2.lab.test[198.18.0.12]:25, delay=0.01, delays=0/0/0/0.5, dsn=2.0.0, "
           "status=sent (250 2.0.0 Ok: queued as EF0EE116710)"),
      "{\"time\":\"2026-11-29T13:29:02.000000Z\",\"host\":\"h1\",\"program\":\"postfix/smtp\","
      "\"service\":\"smtp\",\"pid\":23347,\"kind\":\"delivery\",\"severity\":\"info\","
      "\"queue_id\":\"ED12E116711\",\"recipient\":\"bob@h3.lab.test\","
      "\"relay_host\":\"h2.lab.test\",\"relay_ip\":\"198.18.0.12\",\"relay_port\":25,"
      "\"delay\":0.01,\"delays\":[0,0,0,0.5],\"dsn\":\"2.0.0\",\"status\":\"sent\","
      "\"response\":\"250 2.0.0 Ok: queued as EF0EE116710\",\"queued_as\":\"EF0EE116710\","
      "\"raw\":\"Nov 29 13:29:02 h1 postfix/smtp[23347]: ED12E116711: to=<bob@h3.lab.test>, "
      "relay=h2.lab.test[198.18.0.12]:25, delay=0.01, delays=0/0/0/0.5, dsn=2.0.0, "
      "status=sent (250 2.0.0 Ok: queued as EF0EE116710)\"}");
}

TEST(EventJsonTest, SenderAndDovecotUserUseTheColumnNames) {
  std::string queued = Json(
      "Nov 29 13:29:02 h1 postfix/qmgr[9]: ED12E116711: from=<lab@h1.lab.test>, size=412, "
      "nrcpt=1 (queue active)");
  EXPECT_NE(queued.find("\"sender\":\"lab@h1.lab.test\",\"size\":412,\"nrcpt\":1"),
            std::string::npos)
      << queued;
  std::string login = Json(
      "Nov 29 13:29:03 h3 dovecot: imap-login: Login: user=<alice>, method=PLAIN, "
      "rip=198.18.0.11, lip=198.18.0.13, mpid=42, session=<abc>");
  EXPECT_NE(login.find("\"dovecot_user\":\"alice\""), std::string::npos) << login;
}

TEST(EventJsonTest, InvalidUtf8IsReplacedAndFlagged) {
  std::string json = Json("Nov 29 13:29:04 h1 postfix/smtpd[1]: warning: bad \xff byte");
  EXPECT_NE(json.find("bad \xef\xbf\xbd byte"), std::string::npos) << json;
  EXPECT_NE(json.find("\"invalid_utf8\":true"), std::string::npos) << json;
}

}  // namespace
}  // namespace mailfleet::parse
