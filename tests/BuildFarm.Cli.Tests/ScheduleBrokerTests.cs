using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace BuildFarm.Cli.Tests;

/// <summary><c>buildfarm schedule</c> (the real program, buildfarm.dll beside the tests) with no broker listening: one line
/// saying which broker is unreachable, no stack trace, and the scheduler keeps running (MassTransit retries).</summary>
public sealed class ScheduleBrokerTests
{
    [Fact]
    public async Task Schedule_BrokerUnreachable_OneLineNamingTheBroker_NoStackTrace_KeepsRunning()
    {
        int port;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }
        var manifest = Path.Combine(Path.GetTempPath(), $"schedule-broker-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(manifest, """
            images:
              - name: base
                context: git://github.com/acme/monorepo.git#refs/heads/main
                destinations:
                  - "registry.example.com/acme/base:{short_sha}"
                schedule: "0 3 * * *"
            """);
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        // The program beside the tests, run with the test project's runtime config and dependencies (they include every
        // assembly buildfarm.dll needs).
        foreach (var arg in new[]
        {
            "exec", "--runtimeconfig", Path.Combine(AppContext.BaseDirectory, "BuildFarm.Cli.Tests.runtimeconfig.json"),
            "--depsfile", Path.Combine(AppContext.BaseDirectory, "BuildFarm.Cli.Tests.deps.json"),
            Path.Combine(AppContext.BaseDirectory, "buildfarm.dll"), "schedule", "--manifest", manifest, "--rabbitmq", $"amqp://guest:guest@127.0.0.1:{port}/",
        })
        {
            start.ArgumentList.Add(arg);
        }
        var output = new StringBuilder();
        using var process = Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start");
        process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (!Text(output).Contains("unreachable", StringComparison.Ordinal))
            {
                Assert.False(process.HasExited, "buildfarm schedule exited:\n" + Text(output));
                Assert.True(DateTime.UtcNow < deadline, "no 'unreachable' line within 60 s:\n" + Text(output));
                await Task.Delay(100);
            }
            // MassTransit retries every few seconds: wait for its next attempt to have happened, then look at everything.
            var firstSeen = DateTime.UtcNow;
            while (DateTime.UtcNow - firstSeen < TimeSpan.FromSeconds(8))
            {
                Assert.False(process.HasExited, "buildfarm schedule exited after the broker was found unreachable:\n" + Text(output));
                await Task.Delay(200);
            }
            var text = Text(output);
            var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var line = Assert.Single(lines, l => l.Contains("unreachable", StringComparison.Ordinal));
            Assert.Contains($"broker rabbitmq://127.0.0.1:{port}/ unreachable (", line, StringComparison.Ordinal);
            Assert.EndsWith("): retrying", line, StringComparison.Ordinal);
            Assert.DoesNotContain(lines, l => l.StartsWith("at ", StringComparison.Ordinal));
            Assert.DoesNotContain("Exception", text, StringComparison.Ordinal);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }
            File.Delete(manifest);
        }
    }

    private static string Text(StringBuilder output)
    {
        lock (output)
        {
            return output.ToString();
        }
    }
}
