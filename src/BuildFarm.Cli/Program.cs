using BuildFarm.Cli;

return await BuildFarmCli.RunAsync(args, CliIO.Console, CancellationToken.None);
