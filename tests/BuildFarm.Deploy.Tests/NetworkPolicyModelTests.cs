using YamlDotNet.RepresentationModel;

namespace BuildFarm.Deploy.Tests;

/// <summary>The NetworkPolicy evaluator the deploy tests rely on, against the rules of networking.k8s.io/v1.</summary>
public sealed class NetworkPolicyModelTests
{
    private static NetworkPolicyModel Model(string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        var objects = stream.Documents.Select(d => (YamlMappingNode)d.RootNode).Select(n =>
        {
            var o = new K8sObject(string.Empty, string.Empty, null, n);
            return o with { Kind = o.Scalar("kind")!, Name = o.Scalar("metadata", "name")!, Namespace = o.Scalar("metadata", "namespace") };
        }).ToList();
        return new NetworkPolicyModel(objects);
    }

    private static Dictionary<string, string> L(string key, string value) => new() { [key] = value };

    private static readonly Endpoint s_web = Endpoint.Pod("web", "a", L("app", "web"), "10.1.0.1");
    private static readonly Endpoint s_db = new("db", "a", L("app", "db"), System.Net.IPAddress.Parse("10.1.0.2"), new Dictionary<string, int> { ["sql"] = 5432 });
    private static readonly Endpoint s_webInB = Endpoint.Pod("web in b", "b", L("app", "web"), "10.1.0.3");

    private const string DbIngress = """
        kind: Namespace
        metadata: {name: b, labels: {team: blue}}
        ---
        kind: NetworkPolicy
        metadata: {name: db, namespace: a}
        spec:
          podSelector: {matchLabels: {app: db}}
          ingress:
            - from: [{podSelector: {matchLabels: {app: web}}}]
              ports: [{port: sql}]
            - from: [{namespaceSelector: {matchLabels: {team: blue}}, podSelector: {matchExpressions: [{key: app, operator: In, values: [web]}]}}]
              ports: [{port: 6000, endPort: 6010}]
        """;

    [Fact]
    public void NoPolicy_AllowsEverything_APolicyIsolatesOnlyThePodsItSelects()
    {
        var none = Model("kind: Namespace\nmetadata: {name: a}\n");
        Assert.True(none.Allows(s_web, s_db, 1));
        var model = Model(DbIngress);
        Assert.True(model.Allows(s_db, s_web, 1), "web is selected by no policy: it accepts anything");
        Assert.True(model.Allows(s_web, s_db, 5432));
        Assert.False(model.Allows(s_web, s_db, 5433), "the named port resolves to 5432 only");
        Assert.False(model.Allows(s_db, s_db, 5432), "db is not app=web");
    }

    [Fact]
    public void PeerSelectors_PodSelectorAloneIsTheSameNamespace_BothSelectorsMustMatch_PortRanges()
    {
        var model = Model(DbIngress);
        Assert.False(model.Allows(s_webInB, s_db, 5432), "a podSelector without namespaceSelector means the policy's namespace");
        Assert.True(model.Allows(s_webInB, s_db, 6005));
        Assert.True(model.Allows(s_webInB, s_db, 6010));
        Assert.False(model.Allows(s_webInB, s_db, 6011));
        Assert.False(model.Allows(s_webInB, s_db, 6005, "UDP"), "the protocol defaults to TCP");
        Assert.False(model.Allows(s_webInB with { PodLabels = L("app", "api") }, s_db, 6005));
        Assert.False(model.Allows(s_web, s_db, 6005), "namespace a does not carry team=blue");
        Assert.False(model.Allows(Endpoint.External("outside", "8.8.8.8"), s_db, 5432));
    }

    [Fact]
    public void Egress_IpBlockWithExceptions_AndDefaultDenyAddsNothing()
    {
        var model = Model("""
            kind: NetworkPolicy
            metadata: {name: deny, namespace: a}
            spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
            ---
            kind: NetworkPolicy
            metadata: {name: out, namespace: a}
            spec:
              podSelector: {matchLabels: {app: web}}
              policyTypes: [Egress]
              egress:
                - to: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}}]
            """);
        Assert.True(model.Allows(s_web, Endpoint.External("outside", "8.8.8.8"), 443));
        Assert.False(model.Allows(s_web, Endpoint.External("inside", "10.9.9.9"), 443));
        Assert.False(model.Allows(s_db, Endpoint.External("outside", "8.8.8.8"), 443), "db is only under the deny-all policy");
        Assert.False(model.Allows(s_web, s_webInB, 80), "10.1.0.3 is in the excepted range");
        Assert.False(model.Allows(s_webInB, s_web, 80), "deny-all isolates web's ingress");
    }
}
