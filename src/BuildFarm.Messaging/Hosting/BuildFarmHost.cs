using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace BuildFarm.Messaging.Hosting;

/// <summary>
/// What every BuildFarm host process (worker, API) does the same way: settings found beside the program wherever it is
/// started from, a configuration check at start, and start-up failures an operator can act on reported as one line on
/// stderr with exit code 2 instead of an unhandled exception.
/// </summary>
public static class BuildFarmHost
{
    /// <summary>Exit code of a host that could not start because of its configuration or environment.</summary>
    public const int StartupFailed = 2;

    /// <summary>
    /// Builder options whose content root is the program's own directory (<see cref="AppContext.BaseDirectory"/>), so that
    /// <c>appsettings.json</c> is read whatever the current directory is. Paths given in settings (a kubeconfig, a
    /// manifest) stay relative to the current directory.
    /// </summary>
    public static WebApplicationOptions WebOptions(string[] args) => new() { Args = args, ContentRootPath = AppContext.BaseDirectory };

    /// <summary>
    /// Checks the configuration (<see cref="ConfigurationCheck"/>: warnings logged, <see cref="HostSettings.Requirements"/>
    /// enforced), validates every option section, starts the host and waits for it to stop. A failure <see cref="DescribeStartupFailure"/> knows (a setting that does not
    /// validate, a port already in use) is written as one line <c>NAME: problem</c> to <paramref name="error"/> (stderr by
    /// default) and answered with <see cref="StartupFailed"/>; any other exception is a bug and propagates.
    /// </summary>
    public static async Task<int> RunAsync(IHost host, string name, HostSettings settings, TextWriter? error = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(settings);
        error ??= Console.Error;
        var logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("BuildFarm.Configuration");
        foreach (var warning in ConfigurationCheck.Check(host.Services.GetRequiredService<IConfiguration>(), name, settings))
        {
            logger.LogWarning("{Warning}", warning);
        }
        try
        {
            host.Services.GetService<IStartupValidator>()?.Validate();
            if (ConfigurationCheck.Problems(host.Services.GetRequiredService<IConfiguration>(), settings) is { Count: > 0 } problems)
            {
                throw new OptionsValidationException(name, typeof(HostSettings), problems);
            }
            await host.StartAsync();
        }
        catch (Exception e) when (DescribeStartupFailure(e) is { } problem)
        {
            await error.WriteLineAsync($"{name}: {problem}");
            await error.FlushAsync();
            // Whatever started before the failure (the bus, background services) is stopped, briefly.
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await host.StopAsync(stop.Token);
            }
            catch (Exception stopError) when (stopError is OperationCanceledException or InvalidOperationException or ArgumentException or AggregateException)
            {
                // Stopping a host that never started fully (its hosted services not even created when one of them could
                // not be built): nothing more to report than the line above.
            }
            return StartupFailed;
        }
        await host.WaitForShutdownAsync();
        return 0;
    }

    /// <summary>
    /// The one line an operator needs for a start-up failure caused by configuration or environment, or null for any other
    /// exception (a bug, reported with its stack trace). Option validation failures name their settings; a port in use
    /// names the <c>Urls</c> setting to change.
    /// </summary>
    public static string? DescribeStartupFailure(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        switch (exception)
        {
            case OptionsValidationException invalid:
                return "configuration: " + string.Join("; ", invalid.Failures);
            case IOException when exception.InnerException is AddressInUseException
                || exception.InnerException is SocketException { SocketErrorCode: SocketError.AddressAlreadyInUse }:
                return $"{exception.Message.TrimEnd('.')}. Another process (a second worker or API on this machine?) holds that port: "
                    + "set Urls to a free address, e.g. the environment variable Urls=http://127.0.0.1:9465 or the argument --urls http://127.0.0.1:9465";
            case AggregateException { InnerExceptions.Count: 1 } single:
                return DescribeStartupFailure(single.InnerExceptions[0]);
            default:
                return null;
        }
    }
}

/// <summary>What a host reads from configuration, for <see cref="ConfigurationCheck"/>.</summary>
/// <param name="Sections">Top-level sections this host reads (<c>Worker</c>, <c>Bus</c>, …).</param>
/// <param name="Renamed">Old setting → its current name: still honoured, with a deprecation warning.</param>
/// <param name="Requirements">Checks of settings that cannot work together in this host process, each answering the
/// problem (naming the settings) or null; checked by <see cref="BuildFarmHost.RunAsync"/> after the option sections
/// validate, and a problem stops the host like an invalid setting. Hosts composed in code (<c>buildfarm demo</c>, tests) do
/// not run them.</param>
public sealed record HostSettings(IReadOnlyCollection<string> Sections, IReadOnlyDictionary<string, string> Renamed,
    IReadOnlyList<Func<IConfiguration, string?>>? Requirements = null);
