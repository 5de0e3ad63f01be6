using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using StackExchange.Redis;

namespace BuildFarm.Api.Tests;

/// <summary>
/// The API host process (buildfarm-api.dll beside the tests) started as an operator starts it, from another directory:
/// it reads its settings beside the program, and keeps its records in Redis when given the farm's one Redis setting
/// <c>Redis__ConnectionString</c> (the real redis-server that ./test.sh starts, BUILDFARM_TEST_REDIS).
/// </summary>
[NeedsServer(Server.Redis)]
public sealed class HostProcessTests
{
    [Fact]
    public async Task Api_StartedFromAnotherDirectory_ListensWhereItsSettingsSay_RedisConnectionString_KeepsRecordsInRedis()
    {
        var redis = TestEnvironment.Redis;
        var environment = $"HostTest{Guid.NewGuid():N}";
        var port = FreePort();
        var settingsFile = Path.Combine(AppContext.BaseDirectory, $"appsettings.{environment}.json");
        await File.WriteAllTextAsync(settingsFile, $$"""{ "Urls": "http://127.0.0.1:{{port}}" }""");
        var elsewhere = Directory.CreateTempSubdirectory("api-cwd-");
        var prefix = $"bfapihost:{Guid.NewGuid():N}:";
        using var api = ApiProcess.Start(elsewhere.FullName, new Dictionary<string, string?>
        {
            ["Urls"] = null,
            ["DOTNET_ENVIRONMENT"] = environment,
            ["ASPNETCORE_ENVIRONMENT"] = environment,
            ["Api__Keys__me__Key"] = "host-test-key-0123456789",
            ["Api__Keys__me__Scopes"] = "submit,read",
            ["Redis__ConnectionString"] = redis,
            ["Status__KeyPrefix"] = prefix,
        });
        var process = api.Process;
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(5) };
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (!await AnswersAsync(http))
            {
                Assert.False(process.HasExited, "the API exited:\n" + api.Text);
                Assert.True(DateTime.UtcNow < deadline, $"the API started in {elsewhere.FullName} does not answer on port {port} (appsettings.{environment}.json):\n" + api.Text);
                await Task.Delay(200);
            }

            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "host-test-key-0123456789");
            using var response = await http.PostAsJsonAsync(new Uri("v1/builds", UriKind.Relative), Samples.Build(), BuildFarmJson.Options);
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);

            await using var connection = await ConnectionMultiplexer.ConnectAsync(redis);
            var keys = connection.GetServers().SelectMany(s => s.Keys(pattern: prefix + "*")).ToList();
            Assert.NotEmpty(keys);
            Assert.DoesNotContain("is deprecated", api.Text, StringComparison.Ordinal);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }
            File.Delete(settingsFile);
            elsewhere.Delete(recursive: true);
        }
    }

    private static async Task<bool> AnswersAsync(HttpClient http)
    {
        try
        {
            using var response = await http.GetAsync(new Uri("healthz", UriKind.Relative));
            return response.IsSuccessStatusCode;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
