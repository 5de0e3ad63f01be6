using Xunit;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace BuildFarm.TestSupport;

/// <summary>
/// xunit's own test framework plus one rule at discovery: a test that <see cref="NeedsServerAttribute"/> marks (on the
/// method or its class) and whose server is missing becomes a skipped test carrying the reason (locally) or a failing
/// test carrying it (when <c>CI=true</c>), so a test that cannot reach its server never passes silently. Every test
/// project names it with <c>[assembly: TestFramework("BuildFarm.TestSupport.ServerLaneTestFramework", "BuildFarm.TestSupport")]</c>
/// (an <c>AssemblyAttribute</c> item in its .csproj).
/// </summary>
public sealed class ServerLaneTestFramework : XunitTestFramework
{
    public ServerLaneTestFramework(IMessageSink messageSink)
        : base(messageSink)
    {
    }

    protected override ITestFrameworkDiscoverer CreateDiscoverer(IAssemblyInfo assemblyInfo) =>
        new Discoverer(assemblyInfo, SourceInformationProvider, DiagnosticMessageSink);

    private sealed class Discoverer : XunitTestFrameworkDiscoverer
    {
        public Discoverer(IAssemblyInfo assemblyInfo, ISourceInformationProvider sourceProvider, IMessageSink diagnosticMessageSink)
            : base(assemblyInfo, sourceProvider, diagnosticMessageSink)
        {
        }

        protected override bool FindTestsForMethod(ITestMethod testMethod, bool includeSourceInformation, IMessageBus messageBus,
            ITestFrameworkDiscoveryOptions discoveryOptions)
        {
            var missing = MissingServers(testMethod);
            if (missing.Count == 0 || !IsTest(testMethod))
            {
                return base.FindTestsForMethod(testMethod, includeSourceInformation, messageBus, discoveryOptions);
            }
            var reason = string.Join("; ", missing.Select(m => m.Reason));
            var display = discoveryOptions.MethodDisplayOrDefault();
            var displayOptions = discoveryOptions.MethodDisplayOptionsOrDefault();
            // kubectl is the one tool ./test.sh does not install: without it the test is skipped even under CI.
            ITestCase testCase = TestEnvironment.IsCi && missing.Any(m => m.Server != Server.Kubectl)
                ? new ExecutionErrorTestCase(DiagnosticMessageSink, display, displayOptions, testMethod,
                    $"CI=true and a server this test needs is missing (server tests fail under CI instead of skipping): {reason}")
                : new XunitSkippedDataRowTestCase(DiagnosticMessageSink, display, displayOptions, testMethod, reason);
            return ReportDiscoveredTestCase(testCase, includeSourceInformation, messageBus);
        }

        private static bool IsTest(ITestMethod testMethod) =>
            testMethod.Method.GetCustomAttributes(typeof(FactAttribute)).Any();

        /// <summary>The servers the method (or its class) needs that are not available here, each with the reason.</summary>
        private static List<(Server Server, string Reason)> MissingServers(ITestMethod testMethod) =>
            testMethod.Method.GetCustomAttributes(typeof(NeedsServerAttribute))
                .Concat(testMethod.TestClass.Class.GetCustomAttributes(typeof(NeedsServerAttribute)))
                .SelectMany(NeedsServerAttribute.ServersOf)
                .Distinct()
                .Select(server => (Server: server, Reason: TestEnvironment.Missing(server)))
                .Where(m => m.Reason is not null)
                .Select(m => (m.Server, m.Reason!))
                .ToList();
    }
}
