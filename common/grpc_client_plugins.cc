// The gRPC plugins of the statically linked agent and CLI: what a client of one collector over
// TLS needs, and no more.
//
// libgrpc's own grpc_core::BuildCoreConfiguration registers every plugin gRPC has: the xDS
// resolver and load balancers, RLS, grpclb, ring hash, outlier detection, the fault injection
// and RBAC filters, cloud-to-prod, Google default credentials and the file-watcher certificate
// provider. In a static link that one function pulls all of their code into the program, and
// the pages their start-up code touches stay resident: 1.4 MiB of the agent. The program defines
// the function itself, so the linker leaves libgrpc's definition out, and with it every plugin
// only that definition refers to.
//
// What stays: TCP connect and HTTP CONNECT (proxy) handshakers, pick_first and round_robin,
// the client channel with its service config parsers, TLS, the client authority, idle, HTTP,
// deadline, message size and service-config channel-arg filters, the resource quota, the
// c-ares and native DNS resolvers, the ipv4:/ipv6:/unix: resolver, the HTTP proxy mapper, the
// security filters and gRPC's builtins. The order is libgrpc 1.51's: a handshaker registered
// later runs earlier (TCP connect before HTTP CONNECT), and the builtins come last.
//
// gRPC installs no header for these (they live in its src/core), so they are declared by their
// symbol names, the Itanium C++ ABI names of `void grpc_core::F(CoreConfiguration::Builder*)`.
// The build compiles this file only against gRPC 1.51 (CMakeLists.txt); a gRPC that renamed
// one of them fails to link rather than running without it.

namespace mailfleet::grpc_plugins {

struct Builder;  // grpc_core::CoreConfiguration::Builder

#define MAILFLEET_GRPC_PLUGIN(local, symbol) void local(Builder* builder) __asm__(symbol)

MAILFLEET_GRPC_PLUGIN(
    RegisterEventEngineChannelArgPreconditioning,
    "_ZN17grpc_event_engine12experimental44RegisterEventEngineChannelArgPreconditi"
    "oningEPN9grpc_core17CoreConfiguration7BuilderE");
MAILFLEET_GRPC_PLUGIN(
    RegisterHttpConnectHandshaker,
    "_ZN9grpc_core29RegisterHttpConnectHandshakerEPNS_17CoreConfiguration7BuilderE");
MAILFLEET_GRPC_PLUGIN(
    RegisterTCPConnectHandshaker,
    "_ZN9grpc_core28RegisterTCPConnectHandshakerEPNS_17CoreConfiguration7BuilderE");
MAILFLEET_GRPC_PLUGIN(RegisterPickFirstLbPolicy,
                      "_ZN9grpc_core25RegisterPickFirstLbPolicyEPNS_17CoreConfiguration7BuilderE");
MAILFLEET_GRPC_PLUGIN(RegisterRoundRobinLbPolicy,
                      "_ZN9grpc_core26RegisterRoundRobinLbPolicyEPNS_17CoreConfiguration7BuilderE");
MAILFLEET_GRPC_PLUGIN(
    BuildClientChannelConfiguration,
    "_ZN9grpc_core31BuildClientChannelConfigurationEPNS_17CoreConfiguration7BuilderE");
MAILFLEET_GRPC_PLUGIN(
    SecurityRegisterHandshakerFactories,
    "_ZN9grpc_core35SecurityRegisterHandshakerFactoriesEPNS_17CoreConfiguration7BuilderE");
MAILFLEET_GRPC_PLUGIN(
    RegisterClientAuthorityFilter,
    "_ZN9grpc_core29RegisterClientAuthorityFilterEPNS_17CoreConfiguration7BuilderE");
MAILFLEET_GRPC_PLUGIN(RegisterChannelIdleFilters,
                      "_ZN9grpc_core26RegisterChannelIdleFiltersEPNS_17CoreConfiguration7BuilderE");
MAILFLEET_GRPC_PLUGIN(RegisterHttpFilters,
                      "_ZN9grpc_core19RegisterHttpFiltersEPNS_17CoreConfiguration7BuilderE");
MAILFLEET_GRPC_PLUGIN(RegisterDeadlineFilter,
                      "_ZN9grpc_core22RegisterDeadlineFilterEPNS_17CoreConfiguration7BuilderE");
MAILFLEET_GRPC_PLUGIN(RegisterMessageSizeFilter,
                      "_ZN9grpc_core25RegisterMessageSizeFilterEPNS_17CoreConfiguration7BuilderE");
MAILFLEET_GRPC_PLUGIN(
    RegisterServiceConfigChannelArgFilter,
    "_ZN9grpc_core37RegisterServiceConfigChannelArgFilterEPNS_17CoreConfiguration7BuilderE");
MAILFLEET_GRPC_PLUGIN(RegisterResourceQuota,
                      "_ZN9grpc_core21RegisterResourceQuotaEPNS_17CoreConfiguration7BuilderE");
MAILFLEET_GRPC_PLUGIN(RegisterAresDnsResolver,
                      "_ZN9grpc_core23RegisterAresDnsResolverEPNS_17CoreConfiguration7BuilderE");
MAILFLEET_GRPC_PLUGIN(RegisterNativeDnsResolver,
                      "_ZN9grpc_core25RegisterNativeDnsResolverEPNS_17CoreConfiguration7BuilderE");
MAILFLEET_GRPC_PLUGIN(RegisterSockaddrResolver,
                      "_ZN9grpc_core24RegisterSockaddrResolverEPNS_17CoreConfiguration7BuilderE");
MAILFLEET_GRPC_PLUGIN(RegisterHttpProxyMapper,
                      "_ZN9grpc_core23RegisterHttpProxyMapperEPNS_17CoreConfiguration7BuilderE");
MAILFLEET_GRPC_PLUGIN(RegisterSecurityFilters,
                      "_ZN9grpc_core23RegisterSecurityFiltersEPNS_17CoreConfiguration7BuilderE");
MAILFLEET_GRPC_PLUGIN(RegisterBuiltins,
                      "_ZN9grpc_core16RegisterBuiltinsEPNS_17CoreConfiguration7BuilderE");

#undef MAILFLEET_GRPC_PLUGIN

// grpc_core::BuildCoreConfiguration(CoreConfiguration::Builder*), called once by gRPC when it
// first builds its configuration.
void BuildGrpcCoreConfiguration(Builder* builder) __asm__(
    "_ZN9grpc_core22BuildCoreConfigurationEPNS_17CoreConfiguration7BuilderE");
void BuildGrpcCoreConfiguration(Builder* builder) {
  RegisterEventEngineChannelArgPreconditioning(builder);
  RegisterHttpConnectHandshaker(builder);
  RegisterTCPConnectHandshaker(builder);
  RegisterPickFirstLbPolicy(builder);
  RegisterRoundRobinLbPolicy(builder);
  BuildClientChannelConfiguration(builder);
  SecurityRegisterHandshakerFactories(builder);
  RegisterClientAuthorityFilter(builder);
  RegisterChannelIdleFilters(builder);
  RegisterHttpFilters(builder);
  RegisterDeadlineFilter(builder);
  RegisterMessageSizeFilter(builder);
  RegisterServiceConfigChannelArgFilter(builder);
  RegisterResourceQuota(builder);
  RegisterAresDnsResolver(builder);
  RegisterNativeDnsResolver(builder);
  RegisterSockaddrResolver(builder);
  RegisterHttpProxyMapper(builder);
  RegisterSecurityFilters(builder);
  RegisterBuiltins(builder);
}

}  // namespace mailfleet::grpc_plugins
