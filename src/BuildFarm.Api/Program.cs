using BuildFarm.Api.Hosting;
using BuildFarm.Messaging.Hosting;

// Settings (appsettings.json) are read from the program's directory wherever it is started from.
var builder = WebApplication.CreateBuilder(BuildFarmHost.WebOptions(args));
builder.AddBuildFarmApi();
var app = builder.Build();
try
{
    // Mapping reads the API keys: one the farm cannot use is a configuration problem, reported as such.
    app.MapBuildFarmApi();
}
catch (Exception e) when (BuildFarmHost.DescribeStartupFailure(e) is { } problem)
{
    await Console.Error.WriteLineAsync($"buildfarm-api: {problem}");
    return BuildFarmHost.StartupFailed;
}
return await BuildFarmHost.RunAsync(app, "buildfarm-api", ApiServiceCollectionExtensions.ConfigurationSettings);
