// RETURN_IF_ERROR / ASSIGN_OR_RETURN: Debian's abseil (20220623) ships no status macros.
//   RETURN_IF_ERROR(store.Migrate());
//   ASSIGN_OR_RETURN(auto hosts, store.ListHosts());
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/absl_fmt.h"

#define MAILFLEET_CONCAT_INNER(a, b) a##b
#define MAILFLEET_CONCAT(a, b) MAILFLEET_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                \
  do {                                       \
    ::absl::Status mf_status_ = (expr);      \
    if (!mf_status_.ok()) return mf_status_; \
  } while (0)

#define MAILFLEET_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                    \
  if (!tmp.ok()) return std::move(tmp).status();        \
  lhs = std::move(tmp).value()

#define ASSIGN_OR_RETURN(lhs, expr) \
  MAILFLEET_ASSIGN_OR_RETURN_IMPL(MAILFLEET_CONCAT(mf_statusor_, __LINE__), lhs, expr)
