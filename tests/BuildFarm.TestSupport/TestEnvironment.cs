namespace BuildFarm.TestSupport;

/// <summary>A server (or tool) that some tests need; <see cref="NeedsServerAttribute"/> names them.</summary>
public enum Server
{
    /// <summary>redis-server: <c>BUILDFARM_TEST_REDIS</c> (host:port); also the redis-server binary for tests that start their own.</summary>
    Redis,

    /// <summary>RabbitMQ: <c>BUILDFARM_TEST_RABBITMQ</c> (amqp://user:password@host:port/).</summary>
    RabbitMq,

    /// <summary>prometheus and promtool: <c>BUILDFARM_TEST_PROMETHEUS</c> and <c>BUILDFARM_TEST_PROMTOOL</c> (absolute paths).</summary>
    Prometheus,

    /// <summary>The real kubectl (/usr/bin/kubectl or on PATH); ./test.sh does not install it.</summary>
    Kubectl,

    /// <summary>Two docker-registry processes: <c>BUILDFARM_TEST_REGISTRY</c> (host:port, no auth) and
    /// <c>BUILDFARM_TEST_REGISTRY_AUTH</c> (htpasswd Basic auth; <c>BUILDFARM_TEST_REGISTRY_USER</c>/<c>_PASSWORD</c>).</summary>
    Registry,
}

/// <summary>
/// The servers ./test.sh starts and names in environment variables, read in one place. A test that reads a missing
/// variable fails with a message naming it; <see cref="NeedsServerAttribute"/> turns that into a skip with the same
/// reason when the tests run locally (outside CI) so that plain <c>dotnet test</c> works without servers.
/// </summary>
public static class TestEnvironment
{
    public const string RedisVariable = "BUILDFARM_TEST_REDIS";
    public const string RabbitMqVariable = "BUILDFARM_TEST_RABBITMQ";
    public const string PrometheusVariable = "BUILDFARM_TEST_PROMETHEUS";
    public const string PromtoolVariable = "BUILDFARM_TEST_PROMTOOL";
    public const string RegistryVariable = "BUILDFARM_TEST_REGISTRY";
    public const string RegistryAuthVariable = "BUILDFARM_TEST_REGISTRY_AUTH";

    /// <summary>True when <c>CI</c> is <c>true</c> or <c>1</c> (GitHub Actions, GitLab and most CI systems set it): there a
    /// server test whose server is missing fails instead of being skipped.</summary>
    public static bool IsCi => Environment.GetEnvironmentVariable("CI") is { } ci
        && (ci.Equals("true", StringComparison.OrdinalIgnoreCase) || ci == "1");

    /// <summary>The redis-server that ./test.sh starts (host:port).</summary>
    public static string Redis => Require(RedisVariable, "redis-server");

    /// <summary>The RabbitMQ that ./test.sh starts.</summary>
    public static Uri RabbitMq
    {
        get
        {
            var value = Require(RabbitMqVariable, "rabbitmq-server");
            return Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.Scheme == "amqp"
                ? uri
                : throw new InvalidOperationException($"{RabbitMqVariable}: '{value}' is not an amqp://user:password@host:port/ URI");
        }
    }

    /// <summary>The prometheus binary (absolute path) that ./test.sh installs.</summary>
    public static string Prometheus => RequireBinary(PrometheusVariable, "prometheus");

    /// <summary>The promtool binary (absolute path) that ./test.sh installs.</summary>
    public static string Promtool => RequireBinary(PromtoolVariable, "promtool");

    /// <summary>The real kubectl, or null when it is not installed.</summary>
    public static string? Kubectl { get; } = FindKubectl();

    /// <summary>Why <paramref name="server"/> is not available here, or null when it is.</summary>
    public static string? Missing(Server server) => server switch
    {
        Server.Redis => MissingVariable(RedisVariable, "redis-server"),
        Server.RabbitMq => MissingVariable(RabbitMqVariable, "rabbitmq-server"),
        Server.Prometheus => MissingVariable(PrometheusVariable, "prometheus") ?? MissingVariable(PromtoolVariable, "promtool"),
        Server.Kubectl => Kubectl is null
            ? "kubectl is not installed (looked for /usr/bin/kubectl and kubectl on PATH): these tests need the real binary"
            : null,
        Server.Registry => MissingVariable(RegistryVariable, "docker-registry") ?? MissingVariable(RegistryAuthVariable, "docker-registry with htpasswd auth"),
        _ => throw new ArgumentOutOfRangeException(nameof(server), server, "unknown server"),
    };

    /// <summary>The trait value of <paramref name="server"/> (<c>Server=redis</c> and so on).</summary>
    public static string Name(Server server) => server switch
    {
        Server.Redis => "redis",
        Server.RabbitMq => "rabbitmq",
        Server.Prometheus => "prometheus",
        Server.Kubectl => "kubectl",
        Server.Registry => "registry",
        _ => throw new ArgumentOutOfRangeException(nameof(server), server, "unknown server"),
    };

    private static string? MissingVariable(string variable, string server) =>
        string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(variable))
            ? $"{variable} is not set: this test needs {server}. Run ./test.sh (it starts the servers and sets the variables) or set {variable} yourself"
            : null;

    private static string Require(string variable, string server) =>
        MissingVariable(variable, server) is { } missing
            ? throw new InvalidOperationException(missing)
            : Environment.GetEnvironmentVariable(variable)!;

    private static string RequireBinary(string variable, string binary)
    {
        var path = Require(variable, binary);
        if (!Path.IsPathRooted(path) || !File.Exists(path))
        {
            throw new InvalidOperationException($"{variable}={path} is not an absolute path to an existing {binary} binary. Run ./test.sh.");
        }
        return path;
    }

    private static string? FindKubectl()
    {
        if (File.Exists("/usr/bin/kubectl"))
        {
            return "/usr/bin/kubectl";
        }
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, "kubectl");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        return null;
    }
}
