// What every page uses, built once in main.tsx and handed down by context.
import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { Clients } from "./api/clients.js";
import type { BasketStore } from "./basket/basket-store.js";

export interface AppServices {
  clients: Clients;
  basket: BasketStore;
}

export const AppContext = createContext<AppServices | undefined>(undefined);

export function useServices(): AppServices {
  const services = useContext(AppContext);
  if (!services) throw new Error("pages render inside <AppContext.Provider>");
  return services;
}
