import Foundation

// Parsing the container runtimes' own files into names. Pure: bytes in, a record out; where the
// files are and when to read them is WorkloadResolver's business.

extension ContainerRecord {
    /// containerd's CRI plugin annotations in a container's OCI spec.
    private enum ContainerdKey {
        static let containerName = "io.kubernetes.cri.container-name"
        static let containerType = "io.kubernetes.cri.container-type"
        static let podNamespace = "io.kubernetes.cri.sandbox-namespace"
        static let podName = "io.kubernetes.cri.sandbox-name"
        static let podUID = "io.kubernetes.cri.sandbox-uid"
    }

    /// CRI-O's annotations in a container's OCI spec (the kubelet's label names), and Docker's
    /// labels for containers kubelet made through dockershim or cri-dockerd.
    private enum KubeletKey {
        static let containerName = "io.kubernetes.container.name"
        static let podNamespace = "io.kubernetes.pod.namespace"
        static let podName = "io.kubernetes.pod.name"
        static let podUID = "io.kubernetes.pod.uid"
        static let crioContainerType = "io.kubernetes.cri-o.ContainerType"
        static let dockerType = "io.kubernetes.docker.type"
    }

    /// The names in an OCI runtime spec (`config.json` of a containerd task bundle, or of a
    /// CRI-O container's `userdata`): its `annotations`, containerd's `io.kubernetes.cri.*` or
    /// CRI-O's `io.kubernetes.pod.*` / `io.kubernetes.container.name`. Nil when the file is not
    /// JSON or has none of them (a container not made for Kubernetes).
    public static func fromOCIConfig(_ data: Data) -> ContainerRecord? {
        guard let spec = jsonObject(data), let annotations = spec["annotations"] as? [String: Any] else { return nil }
        let a = annotations.compactMapValues { $0 as? String }
        if a[ContainerdKey.podName] != nil || a[ContainerdKey.containerName] != nil {
            return ContainerRecord(containerName: a[ContainerdKey.containerName], podNamespace: a[ContainerdKey.podNamespace],
                                   podName: a[ContainerdKey.podName], podUID: a[ContainerdKey.podUID],
                                   isSandbox: a[ContainerdKey.containerType] == "sandbox")
        }
        if a[KubeletKey.podName] != nil || a[KubeletKey.containerName] != nil {
            return ContainerRecord(containerName: a[KubeletKey.containerName], podNamespace: a[KubeletKey.podNamespace],
                                   podName: a[KubeletKey.podName], podUID: a[KubeletKey.podUID],
                                   isSandbox: a[KubeletKey.crioContainerType] == "sandbox")
        }
        return nil
    }

    /// The names in Docker's `config.v2.json`: `Name` (`/web`, without the slash), and for a
    /// container kubelet made (dockershim, cri-dockerd) the pod's from `Config.Labels`.
    public static func fromDockerConfig(_ data: Data) -> ContainerRecord? {
        guard let config = jsonObject(data) else { return nil }
        let labels = ((config["Config"] as? [String: Any])?["Labels"] as? [String: Any])?.compactMapValues { $0 as? String } ?? [:]
        let dockerName = (config["Name"] as? String).map { $0.hasPrefix("/") ? String($0.dropFirst()) : $0 }.flatMap { $0.isEmpty ? nil : $0 }
        if labels[KubeletKey.podName] != nil {
            return ContainerRecord(containerName: labels[KubeletKey.containerName], podNamespace: labels[KubeletKey.podNamespace],
                                   podName: labels[KubeletKey.podName], podUID: labels[KubeletKey.podUID],
                                   isSandbox: labels[KubeletKey.dockerType] == "podsandbox")
        }
        return dockerName.map { ContainerRecord(containerName: $0) }
    }

    /// The names of container `id` in a containers/storage list (Podman's and CRI-O's
    /// `overlay-containers/containers.json` or `volatile-containers.json`: an array of
    /// `{"id": …, "names": [...]}`): its first name. Nil when the id is not listed.
    public static func fromStorageContainers(_ data: Data, id: String) -> ContainerRecord? {
        guard let list = (try? JSONSerialization.jsonObject(with: data)) as? [[String: Any]],
              let entry = list.first(where: { $0["id"] as? String == id }) else { return nil }
        return ContainerRecord(containerName: (entry["names"] as? [String])?.first)
    }

    private static func jsonObject(_ data: Data) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }
}
