using BuildFarm.Api.Hosting;

namespace BuildFarm.Api.Tests;

/// <summary>
/// The API host process started with settings it cannot run with. With <c>Scheduling:Admission</c> on and no <c>Redis:ConnectionString</c>: its admission store would
/// be in process, where no worker sees the builds it queues, so it refuses to start with one line naming both settings
/// (exit code 2) instead of answering 202 to builds that never run.
/// </summary>
public sealed class ApiStartupTests
{
    [Fact]
    public async Task Api_AdmissionWithoutRedis_ExitsWithOneLineNamingBothSettings()
    {
        var (exitCode, text) = await RunApiAsync(new Dictionary<string, string>
        {
            ["Api__Keys__me__Key"] = "admission-test-key-0123456789",
            ["Api__Keys__me__Scopes"] = "submit,read",
            ["Scheduling__Admission"] = "true",
            ["Redis__ConnectionString"] = "",
            ["Status__RedisConnectionString"] = "",
        });

        Assert.Equal(2, exitCode);
        var line = Assert.Single(text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
            l => l.Contains("Scheduling:Admission", StringComparison.Ordinal));
        Assert.StartsWith("buildfarm-api: configuration: Scheduling:Admission: true needs Redis:ConnectionString (environment Redis__ConnectionString)",
            line, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", text, StringComparison.Ordinal);
        Assert.Single(ApiServiceCollectionExtensions.ConfigurationSettings.Requirements!);
    }

    /// <summary>An API key the farm cannot use (no scopes, an unknown scope, a bad tenant, a name that is no tenant and no
    /// tenant given) stops the API with one line naming the setting (exit code 2), as any other configuration problem does,
    /// not with an unhandled exception; the key itself is never printed.</summary>
    [Theory]
    [InlineData("me", "", "team-a", "buildfarm-api: configuration: API key 'me' has no scopes: set Api:Keys:me:Scopes")]
    [InlineData("me", "submit,rule-the-world", "team-a", "buildfarm-api: configuration: Api:Keys:me:Scopes: unknown scope 'rule-the-world'")]
    [InlineData("me", "read", "team:a", "buildfarm-api: configuration: Api:Keys:me:Tenant: 'team:a' is not a tenant name")]
    [InlineData("-odd-name", "read", null, "buildfarm-api: configuration: API key '-odd-name' has no Api:Keys:-odd-name:Tenant")]
    public async Task Api_UnusableKey_ExitsWithOneLineNamingTheSetting(string name, string scopes, string? tenant, string expected)
    {
        var environment = new Dictionary<string, string>
        {
            [$"Api__Keys__{name}__Key"] = "startup-test-key-0123456789",
            [$"Api__Keys__{name}__Scopes"] = scopes,
        };
        if (tenant is not null)
        {
            environment[$"Api__Keys__{name}__Tenant"] = tenant;
        }
        var (exitCode, text) = await RunApiAsync(environment);

        Assert.Equal(2, exitCode);
        Assert.Single(text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
            l => l.StartsWith(expected, StringComparison.Ordinal));
        Assert.DoesNotContain("Unhandled exception", text, StringComparison.Ordinal);
        Assert.DoesNotContain("startup-test-key-0123456789", text, StringComparison.Ordinal);
    }

    /// <summary>Runs the API host process with <paramref name="environment"/> until it exits (at most 60 s): its exit code
    /// and everything it wrote.</summary>
    private static async Task<(int ExitCode, string Text)> RunApiAsync(IReadOnlyDictionary<string, string> environment)
    {
        using var api = ApiProcess.Start(AppContext.BaseDirectory,
            environment.ToDictionary(e => e.Key, e => (string?)e.Value).Append(new("Urls", "http://127.0.0.1:0")).ToDictionary());
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await api.Process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            api.Process.Kill(entireProcessTree: true);
            Assert.Fail("the API did not exit:\n" + api.Text);
        }
        // The asynchronous readers have seen the end of both streams once WaitForExit (without a timeout) returns.
        await api.Process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        return (api.Process.ExitCode, api.Text);
    }
}
