using Xunit.Abstractions;
using Xunit.Sdk;

namespace BuildFarm.TestSupport;

/// <summary>
/// Marks a test method or a whole test class as needing real servers. It adds the traits <c>Lane=Servers</c> and one
/// <c>Server=redis|rabbitmq|prometheus|kubectl</c> per server, so <c>--filter "Lane!=Servers"</c> selects the fast lane and
/// <c>--filter "Lane=Servers"</c> the server lane (./test.sh runs them in that order). With the assembly's
/// <see cref="ServerLaneTestFramework"/>, a test whose server is missing is skipped with the reason when run locally and
/// fails (never passes, never skips) when <c>CI=true</c>.
/// </summary>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Method, AllowMultiple = false)]
[TraitDiscoverer("BuildFarm.TestSupport.NeedsServerTraitDiscoverer", "BuildFarm.TestSupport")]
public sealed class NeedsServerAttribute : Attribute, ITraitAttribute
{
    public NeedsServerAttribute(params Server[] servers)
    {
        if (servers.Length == 0)
        {
            throw new ArgumentException("name at least one server", nameof(servers));
        }
        Servers = servers;
    }

    public IReadOnlyList<Server> Servers { get; }

    /// <summary>The servers named by a [NeedsServer] as xunit sees it (reflection in process; constructor arguments otherwise).</summary>
    internal static IReadOnlyList<Server> ServersOf(IAttributeInfo attribute)
    {
        if (attribute is IReflectionAttributeInfo { Attribute: NeedsServerAttribute needs })
        {
            return needs.Servers;
        }
        return attribute.GetConstructorArguments().SelectMany(a => a switch
        {
            Server one => [one],
            IEnumerable<Server> many => many,
            IEnumerable<object> many => many.Cast<Server>(),
            _ => [],
        }).ToList();
    }
}

/// <summary>The traits of <see cref="NeedsServerAttribute"/>: <c>Lane=Servers</c> and <c>Server=…</c> per server.</summary>
public sealed class NeedsServerTraitDiscoverer : ITraitDiscoverer
{
    public const string Lane = "Lane";
    public const string ServersLane = "Servers";

    public IEnumerable<KeyValuePair<string, string>> GetTraits(IAttributeInfo traitAttribute)
    {
        yield return new(Lane, ServersLane);
        foreach (var server in NeedsServerAttribute.ServersOf(traitAttribute))
        {
            yield return new("Server", TestEnvironment.Name(server));
        }
    }
}
