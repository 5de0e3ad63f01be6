using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace BuildFarm.Registry.Tests;

/// <summary>
/// The real registries ./test.sh starts (Debian's docker-registry): BUILDFARM_TEST_REGISTRY without auth,
/// BUILDFARM_TEST_REGISTRY_AUTH with htpasswd Basic auth (user and password in BUILDFARM_TEST_REGISTRY_USER and
/// _PASSWORD). Each test uses repositories of its own name.
/// </summary>
public static class TestRegistry
{
    public static string Open => Required("BUILDFARM_TEST_REGISTRY");

    public static string WithAuth => Required("BUILDFARM_TEST_REGISTRY_AUTH");

    public static string User => Required("BUILDFARM_TEST_REGISTRY_USER");

    public static string Password => Required("BUILDFARM_TEST_REGISTRY_PASSWORD");

    /// <summary>skopeo's path when ./test.sh could install it, else null (the checks then use the registry API alone).</summary>
    public static string? Skopeo => Environment.GetEnvironmentVariable("BUILDFARM_TEST_SKOPEO") is { Length: > 0 } path ? path : null;

    /// <summary>A repository name no other test uses.</summary>
    public static string UniqueRepository(string prefix) => $"{prefix}/{Guid.NewGuid():N}";

    /// <summary>Options that reach <paramref name="hostPort"/> over plain HTTP, with short retry delays.</summary>
    public static RegistryClientOptions Options(string hostPort)
    {
        var options = new RegistryClientOptions { RetryBaseDelay = TimeSpan.FromMilliseconds(20), RequestTimeout = TimeSpan.FromSeconds(20) };
        options.PlainHttpRegistries.Add(hostPort);
        return options;
    }

    /// <summary>A Docker config.json giving <paramref name="host"/> the test user (the <c>auth</c> form Kaniko's Secret has).</summary>
    public static DockerConfig Credentials(string host)
    {
        var auth = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{User}:{Password}"));
        var json = JsonSerializer.Serialize(new { auths = new Dictionary<string, object> { [host] = new { auth } } });
        return DockerConfig.TryParse(Encoding.UTF8.GetBytes(json), out var config, out var error) ? config : throw new InvalidOperationException(error);
    }

    /// <summary>Runs skopeo with <paramref name="args"/>; returns its standard output (throws on a non-zero exit).</summary>
    public static async Task<string> RunSkopeoAsync(params string[] args)
    {
        var start = new ProcessStartInfo(Skopeo!) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return process.ExitCode == 0 ? await stdout : throw new InvalidOperationException($"skopeo {string.Join(' ', args)} exited {process.ExitCode}: {await stderr}");
    }

    private static string Required(string name) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException($"{name} is not set: run the tests with ./test.sh, which starts docker-registry");
}
