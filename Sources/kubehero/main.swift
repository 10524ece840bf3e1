// The `kubehero` CLI; everything it does is in KubeHeroCLI, where it is tested.
import KubeHeroCLI

await KubeheroCommand.main()
