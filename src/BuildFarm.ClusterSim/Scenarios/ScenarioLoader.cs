using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace BuildFarm.ClusterSim.Scenarios;

/// <summary>Reads scenario YAML. Unknown keys and bad values are errors naming the key.</summary>
public static class ScenarioLoader
{
    private static readonly IDeserializer s_deserializer = new DeserializerBuilder()
        .WithNamingConvention(CamelCaseNamingConvention.Instance)
        .Build();

    /// <summary>Parses and validates; throws <see cref="ScenarioException"/> with every problem found.</summary>
    public static Scenario Parse(string yaml, string source = "scenario")
    {
        ArgumentNullException.ThrowIfNull(yaml);
        Scenario? scenario;
        try
        {
            scenario = s_deserializer.Deserialize<Scenario?>(yaml);
        }
        catch (YamlException e)
        {
            var inner = e.InnerException is { } i ? $": {i.Message}" : string.Empty;
            throw new ScenarioException($"{source}: line {e.Start.Line}, column {e.Start.Column}: {e.Message}{inner}", e);
        }
        scenario ??= new Scenario();
        scenario.Timings = scenario.Timings.Over(TimingSettings.Defaults());
        var errors = scenario.Validate();
        if (errors.Count > 0)
        {
            throw new ScenarioException($"{source}: {string.Join("; ", errors)}");
        }
        return scenario;
    }

    public static Scenario Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new ScenarioException($"scenario file not found: {path}");
        }
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>The scenario that ships with the simulator (scenarios/default.yaml).</summary>
    public static Scenario Default() => Parse(DefaultYaml(), "default.yaml");

    public static string DefaultYaml() => Embedded("default.yaml");

    /// <summary>
    /// scenarios/fast.yaml: a typical build in well under a second of wall time, no faults and no capacity
    /// (append <c>capacity:</c> and <c>faults:</c>). For tests and quick demos.
    /// </summary>
    public static string FastYaml() => Embedded("fast.yaml");

    private static string Embedded(string file)
    {
        using var stream = typeof(ScenarioLoader).Assembly.GetManifestResourceStream("BuildFarm.ClusterSim.scenarios." + file)
            ?? throw new InvalidOperationException($"the scenario {file} is not embedded in BuildFarm.ClusterSim");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}

public sealed class ScenarioException : Exception
{
    public ScenarioException()
    {
    }

    public ScenarioException(string message) : base(message)
    {
    }

    public ScenarioException(string message, Exception inner) : base(message, inner)
    {
    }
}
