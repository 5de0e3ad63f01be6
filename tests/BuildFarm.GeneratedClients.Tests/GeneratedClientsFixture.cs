using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using BuildFarm.Api.Hosting;
using BuildFarm.Cli.Demo;
using BuildFarm.ClusterSim.Scenarios;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace BuildFarm.GeneratedClients.Tests;

/// <summary>
/// Once per test run: a demo farm (API, bus, store, workers, cluster simulator) with a read-only key besides the demo's
/// admin key and a 64 KiB body limit; an API whose broker is a closed port (its submits answer 503); the live OpenAPI
/// document; clients generated from it by NSwag (System.Text.Json) and Kiota (C#), the dotnet tools pinned in
/// .config/dotnet-tools.json; and the driver program (Driver/) compiled with both. <see cref="Seconds"/> keeps what each
/// step took.
/// </summary>
public sealed class GeneratedClientsFixture : IAsyncLifetime
{
    public const string ReaderKey = "reader-key-0123456789abcdef";

    /// <summary>Builds take about two seconds of wall time (the fast scenario slowed down), so that a batch image is still
    /// waiting for its dependency when the driver cancels it.</summary>
    private static readonly string Scenario = ScenarioLoader.FastYaml().Replace("timeScale: 400", "timeScale: 10", StringComparison.Ordinal)
        + "capacity: { nodes: 4, podsPerNode: 10 }\n";

    private WebApplication? _broken;

    public DemoFarm Farm { get; private set; } = null!;

    public Uri BrokenAddress { get; private set; } = null!;

    public string Document { get; private set; } = "";

    public string WorkDirectory { get; } = Directory.CreateTempSubdirectory("bf-generated-clients-").FullName;

    public string DriverDll => Path.Combine(WorkDirectory, "out", "Driver.dll");

    public Dictionary<string, double> Seconds { get; } = new(StringComparer.Ordinal);

    public async Task InitializeAsync()
    {
        var clock = Stopwatch.StartNew();
        Farm = await DemoFarm.StartAsync(new DemoFarmOptions
        {
            Scenario = ScenarioLoader.Parse(Scenario, "generated clients scenario"),
            ScenarioYaml = Scenario,
            Seed = 5,
            ExtraApiSettings = new Dictionary<string, string?>
            {
                ["Api:Keys:reader:Key"] = ReaderKey,
                ["Api:Keys:reader:Scopes"] = "read",
                ["Api:Keys:reader:Tenant"] = "demo",
                ["Api:MaxBodyBytes"] = "65536",
            },
        }, CancellationToken.None);
        _broken = await StartBrokenApiAsync(Farm.ApiKey);
        BrokenAddress = new Uri($"http://127.0.0.1:{new Uri(_broken.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port}/");
        using (var http = new HttpClient { BaseAddress = Farm.Address })
        {
            Document = await http.GetStringAsync(new Uri("/openapi/v1.json", UriKind.Relative));
        }
        var document = Path.Combine(WorkDirectory, "openapi.json");
        await File.WriteAllTextAsync(document, Document);
        Seconds["start farm and fetch document"] = Lap(clock);

        var root = RepositoryRoot();
        await RunAsync("dotnet", ["tool", "restore"], root);
        Seconds["dotnet tool restore"] = Lap(clock);
        var nswag = TimedAsync("generate NSwag client", () => RunAsync("dotnet",
        [
            "nswag", "openapi2csclient", $"/input:{document}", $"/output:{Path.Combine(WorkDirectory, "NSwagClient.cs")}", "/namespace:Gen.NSwag",
            "/className:BuildFarmNSwagClient", "/jsonLibrary:SystemTextJson", "/wrapResponses:true", "/useBaseUrl:false", "/generateClientInterfaces:false",
        ], root));
        var kiota = TimedAsync("generate Kiota client", () => RunAsync("dotnet",
        [
            "kiota", "generate", "-l", "CSharp", "-d", document, "-o", Path.Combine(WorkDirectory, "kiota"), "-c", "BuildFarmKiotaClient", "-n", "Gen.Kiota",
            "--exclude-backward-compatible", "--clean-output",
        ], root));
        await Task.WhenAll(nswag, kiota);
        clock.Restart();

        var driver = Path.Combine(AppContext.BaseDirectory, "Driver");
        File.Copy(Path.Combine(driver, "Driver.csproj.txt"), Path.Combine(WorkDirectory, "Driver.csproj"), overwrite: true);
        foreach (var source in Directory.GetFiles(driver, "*.cs"))
        {
            File.Copy(source, Path.Combine(WorkDirectory, Path.GetFileName(source)), overwrite: true);
        }
        await RunAsync("dotnet", ["build", "-c", "Release", "-nologo", "-v:q", "-o", "out"], WorkDirectory);
        Seconds["restore and compile the driver with both clients"] = Lap(clock);
    }

    public async Task DisposeAsync()
    {
        if (_broken is not null)
        {
            await _broken.DisposeAsync();
        }
        if (Farm is not null)
        {
            await Farm.DisposeAsync();
        }
        try
        {
            Directory.Delete(WorkDirectory, recursive: true);
        }
        catch (IOException)
        {
            // best effort
        }
    }

    /// <summary>The API host with its bus pointed at a port nothing listens on: a submit waits the publish timeout (1 s)
    /// and answers 503 with Retry-After.</summary>
    private static async Task<WebApplication> StartBrokenApiAsync(string apiKey)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var closedPort = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Bus:Transport"] = "RabbitMq",
            ["Bus:Host"] = "127.0.0.1",
            ["Bus:Port"] = closedPort.ToString(CultureInfo.InvariantCulture),
            ["Api:PublishTimeout"] = "00:00:01",
            ["Api:RetryAfter"] = "00:00:01",
            ["Api:Keys:demo:Key"] = apiKey,
            ["Api:Keys:demo:Scopes"] = "submit,read,cancel,admin",
            ["Api:Keys:demo:Tenant"] = "demo",
        });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.AddBuildFarmApi();
        var app = builder.Build();
        app.MapBuildFarmApi();
        await app.StartAsync();
        return app;
    }

    private async Task TimedAsync(string step, Func<Task> run)
    {
        var clock = Stopwatch.StartNew();
        await run();
        lock (Seconds)
        {
            Seconds[step] = clock.Elapsed.TotalSeconds;
        }
    }

    private static double Lap(Stopwatch clock)
    {
        var seconds = clock.Elapsed.TotalSeconds;
        clock.Restart();
        return seconds;
    }

    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "BuildFarm.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("BuildFarm.sln not found above " + AppContext.BaseDirectory);
    }

    /// <summary>Runs a program to its end (at most 5 minutes); throws with its output when it fails.</summary>
    public static async Task<(int Exit, string Out, string Err)> RunAsync(string program, IReadOnlyList<string> args, string directory, bool check = true)
    {
        var start = new ProcessStartInfo(program)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        // A nested dotnet must not inherit the test host's MSBuild and test platform settings.
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase) || k.StartsWith("VSTEST", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            start.Environment.Remove(name);
        }
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        // Kiota: no update check (the machine may have no route to GitHub).
        start.Environment["KIOTA_UPDATE__DISABLED"] = "true";
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{program} did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', args)} did not end within 5 minutes");
        }
        var result = (process.ExitCode, await stdout, await stderr);
        if (check && result.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', args)} exited {result.ExitCode}:\n{result.Item2}\n{result.Item3}");
        }
        return result;
    }
}
